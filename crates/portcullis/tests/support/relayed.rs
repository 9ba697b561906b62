//! Three nodes whose Raft traffic all goes through fault-injecting relays, so a test can cut one node
//! off from the others for real (TCP refused and dropped both ways) and heal it again.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use portcullis_peers::Relay;

use super::cluster::{NodeSpec, free_addr_on};

/// Node `id`'s own loopback address: its outbound Raft traffic leaves from it, so relays can tell
/// which node is calling.
pub fn node_ip(id: u64) -> IpAddr {
    IpAddr::from([127, 0, 0, 10 + u8::try_from(id).unwrap()])
}

/// Three node specs under `base` (node 1 founds, 2 and 3 join through node 1's relay), each listening
/// for Raft on its own address and advertising the relay in front of it; `relays[i]` fronts
/// `specs[i]`.
pub fn three_relayed_nodes(base: &Path, policy: &str) -> (Vec<Relay>, Vec<NodeSpec>) {
    let binds: Vec<String> = (1..=3).map(|id| free_addr_on(node_ip(id))).collect();
    let relays: Vec<Relay> = binds
        .iter()
        .map(|bind| {
            let target: SocketAddr = bind.parse().unwrap();
            Relay::start("127.0.0.1:0".parse().unwrap(), target).unwrap()
        })
        .collect();
    let seed = relays[0].addr().to_string();
    let specs = (1..=3u64)
        .zip(binds)
        .zip(&relays)
        .map(|((id, bind), relay)| {
            let mut spec = NodeSpec::new(base, id, bind, (id != 1).then_some(seed.as_str()), policy);
            spec.advertise = Some(relay.addr().to_string());
            spec
        })
        .collect();
    (relays, specs)
}

/// Cuts `specs[cut]` off from the others in both directions: its own relay refuses everyone, the
/// others' relays refuse it.
pub fn isolate(relays: &[Relay], specs: &[NodeSpec], cut: usize) {
    relays[cut].cut();
    for (i, relay) in relays.iter().enumerate() {
        if i != cut {
            relay.cut_from(node_ip(specs[cut].id));
        }
    }
}

/// Lets all traffic through again.
pub fn heal(relays: &[Relay]) {
    for relay in relays {
        relay.heal();
    }
}
