//! `CounterService`: the store's shared counters (per identity and global), listed and reset.

use portcullis_proto::admin as pb;
use portcullis_proto::admin::counter_service_server::CounterService;
use portcullis_store::{AdminRole, AppRequest, CounterKey, StateSnapshot};
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::context::AdminContext;
use crate::status;

/// The counter values the service shows. The one place that reads them from the state, so that a
/// different representation (e.g. escrowed leases) only changes this function.
fn counter_values(snapshot: &StateSnapshot) -> Vec<(CounterKey, f64)> {
    snapshot
        .state
        .counters
        .iter()
        .map(|(key, value)| (key.clone(), *value))
        .collect()
}

/// Whether `partition` (`identity:<grant>:<policy>` or `global:<policy>`) matches the filters.
fn matches(partition: &str, grant: &str, policy: &str) -> bool {
    let (partition_grant, partition_policy) = match partition.split_once(':') {
        Some(("identity", rest)) => match rest.rsplit_once(':') {
            Some((grant, policy)) => (Some(grant), policy),
            None => (Some(rest), ""),
        },
        Some(("global", policy)) => (None, policy),
        _ => (None, ""),
    };
    (grant.is_empty() || partition_grant == Some(grant)) && (policy.is_empty() || partition_policy == policy)
}

fn to_proto(key: &CounterKey, value: f64) -> pb::Counter {
    // `scope.name`: the scope (a tool key, or `_global`) may itself hold dots; the name doesn't.
    let (scope, name) = key.counter.rsplit_once('.').unwrap_or(("", key.counter.as_str()));
    pb::Counter {
        scope: scope.to_owned(),
        name: name.to_owned(),
        partition: key.partition.clone(),
        window_start_ms: key.window_start_ms,
        window_end_ms: key.window_end_ms(),
        value,
    }
}

/// The counter service of one node.
pub struct Counters {
    context: AdminContext,
}

impl Counters {
    pub fn new(context: AdminContext) -> Self {
        Self { context }
    }
}

#[tonic::async_trait]
impl CounterService for Counters {
    async fn list_counters(
        &self,
        request: Request<pb::ListCountersRequest>,
    ) -> Result<Response<pb::ListCountersResponse>, Status> {
        Caller::of(&request, AdminRole::Viewer)?;
        let filter = request.into_inner();
        let counters = counter_values(&self.context.store.current())
            .iter()
            .filter(|(key, _)| matches(&key.partition, &filter.grant, &filter.policy))
            .map(|(key, value)| to_proto(key, *value))
            .collect();
        Ok(Response::new(pb::ListCountersResponse { counters }))
    }

    async fn reset_counter(
        &self,
        request: Request<pb::ResetCounterRequest>,
    ) -> Result<Response<pb::ResetCounterResponse>, Status> {
        let caller = Caller::of(&request, AdminRole::Admin)?;
        let reset = request.into_inner();
        if reset.name.is_empty() || reset.partition.is_empty() {
            return Err(Status::invalid_argument(
                "name and partition are required: copy them from ListCounters",
            ));
        }
        let counter = format!("{}.{}", reset.scope, reset.name);
        let found = counter_values(&self.context.store.current())
            .into_iter()
            .find(|(key, _)| {
                key.counter == counter
                    && key.partition == reset.partition
                    && key.window_start_ms == reset.window_start_ms
            });
        let Some((key, previous)) = found else {
            return Err(Status::not_found(format!(
                "no counter {counter} for {} in the window starting at {} ms: list the counters to see what exists",
                reset.partition, reset.window_start_ms
            )));
        };
        let target = key.to_string();
        status::applied(self.context.store.propose(AppRequest::ResetCounter { key }).await)?;
        self.context.audit(
            &caller.name,
            "reset_counter",
            &target,
            Some(format!("previous value {previous}")),
        );
        Ok(Response::new(pb::ResetCounterResponse { previous }))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use portcullis_audit::AuditEntry;
    use portcullis_policy::Timestamp;
    use portcullis_proto::admin as pb;
    use portcullis_proto::admin::counter_service_server::CounterService;
    use portcullis_store::{AdminRole, AppRequest, CounterKey, Store, StoreConfig};
    use tonic::{Code, Request};

    use super::{Counters, matches};
    use crate::auth::Caller;
    use crate::context::{AdminContext, LocalNode, SessionInfo};

    #[test]
    fn partitions_filter_by_grant_and_policy() {
        assert!(matches("identity:g1:p", "g1", ""));
        assert!(matches("identity:g1:p", "", "p"));
        assert!(!matches("identity:g1:p", "g2", ""));
        assert!(matches("global:p", "", "p"));
        assert!(!matches("global:p", "g1", ""));
        assert!(matches("anything", "", ""));
    }

    /// A node that only records what it was asked to audit.
    #[derive(Default)]
    struct Audited(Mutex<Vec<AuditEntry>>);

    impl LocalNode for Audited {
        fn sessions(&self) -> Vec<SessionInfo> {
            Vec::new()
        }
        fn end_session(&self, _: &str) -> bool {
            false
        }
        fn audit(&self, entry: AuditEntry) {
            self.0.lock().unwrap().push(entry);
        }
        fn audit_path(&self) -> Option<PathBuf> {
            None
        }
    }

    fn as_role<T>(message: T, role: AdminRole) -> Request<T> {
        let mut request = Request::new(message);
        request.extensions_mut().insert(Caller {
            name: "ops".to_owned(),
            role,
        });
        request
    }

    fn key(partition: &str) -> CounterKey {
        CounterKey {
            counter: "create_charge.daily_spend".to_owned(),
            partition: partition.to_owned(),
            window_start_ms: 86_400_000,
            window_len_ms: 86_400_000,
        }
    }

    #[tokio::test]
    async fn counters_are_listed_filtered_and_reset_with_an_audit_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_single(StoreConfig::new(1, dir.path())).await.unwrap();
        for (partition, delta) in [("identity:g1:payments", 120.0), ("global:payments", 300.0)] {
            let command = AppRequest::AddToCounter {
                key: key(partition),
                delta,
                ceiling: None,
            };
            store.propose(command).await.unwrap().into_result().unwrap();
        }
        let node = Arc::new(Audited::default());
        let service = Counters::new(AdminContext {
            store: store.clone(),
            node_name: "node-1".to_owned(),
            clock: Arc::new(|| Timestamp(1)),
            local: Arc::clone(&node) as Arc<dyn LocalNode>,
        });

        let all = service
            .list_counters(as_role(pb::ListCountersRequest::default(), AdminRole::Viewer))
            .await
            .unwrap()
            .into_inner()
            .counters;
        assert_eq!(all.len(), 2);
        let mine = service
            .list_counters(as_role(
                pb::ListCountersRequest {
                    grant: "g1".to_owned(),
                    policy: String::new(),
                },
                AdminRole::Viewer,
            ))
            .await
            .unwrap()
            .into_inner()
            .counters;
        assert_eq!(
            mine,
            [pb::Counter {
                scope: "create_charge".to_owned(),
                name: "daily_spend".to_owned(),
                partition: "identity:g1:payments".to_owned(),
                window_start_ms: 86_400_000,
                window_end_ms: 172_800_000,
                value: 120.0,
            }]
        );

        let reset = pb::ResetCounterRequest {
            scope: "create_charge".to_owned(),
            name: "daily_spend".to_owned(),
            partition: "identity:g1:payments".to_owned(),
            window_start_ms: 86_400_000,
        };
        let refused = service
            .reset_counter(as_role(reset.clone(), AdminRole::Viewer))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        let previous = service
            .reset_counter(as_role(reset.clone(), AdminRole::Admin))
            .await
            .unwrap()
            .into_inner()
            .previous;
        assert_eq!(previous, 120.0);
        assert!(
            !store
                .current()
                .state
                .counters
                .contains_key(&key("identity:g1:payments"))
        );
        assert!(
            store
                .current()
                .state
                .counters
                .contains_key(&key("global:payments"))
        );
        let audited = node.0.lock().unwrap().clone();
        assert_eq!(audited.len(), 1);
        assert_eq!(audited[0].tool.as_deref(), Some("admin.reset_counter"));
        assert_eq!(audited[0].actor.as_deref(), Some("ops"));
        let again = service
            .reset_counter(as_role(reset, AdminRole::Admin))
            .await
            .unwrap_err();
        assert_eq!(again.code(), Code::NotFound);
        store.shutdown().await.unwrap();
    }
}
