# Thin wrappers over cargo; every recipe is a one-liner you can run without just.

# Formatting and lints, as CI runs them.
check:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Every test (the README's test command).
test:
    cargo test --workspace

# Everything CI runs.
ci:
    bash .ci/run

# Benchmarks; figures go to docs/benchmarks.md.
bench:
    cargo bench -p portcullis-policy --bench policy_eval
    bash cluster/bench/gateway.sh

# The gateway node against a fast upstream, direct vs through the gateway, in one run.
bench-gateway rate="2000" sessions="10000":
    bash cluster/bench/gateway.sh {{rate}} {{sessions}}

# Validate the example policies.
policies:
    cargo run -q -p portcullis -- policy validate examples/policies/*.yaml
