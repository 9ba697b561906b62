//! Policy on the wire: `tools/list` filtered, `tools/call` decided before it is forwarded, counters
//! reserved and settled, every decision audited.

mod approval;
mod call;
mod complete;
mod denial;
mod heartbeat;
mod list;

pub use call::{CallPlan, args_digest, plan_call};
pub use complete::CallCompletion;
pub use denial::denial_response;
pub use heartbeat::{continue_progress, progress_of, progress_token};
pub use list::filter_tools;
