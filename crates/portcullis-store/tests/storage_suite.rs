//! openraft's own storage test suite, run against our redb log store and state machine.

use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use portcullis_store::raft::TypeConfig;
use portcullis_store::{LogStore, StateMachineStore};
use tempfile::TempDir;

struct RedbBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for RedbBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<TypeConfig>> {
        let failed = |e: std::io::Error| StorageError::write(TypeConfig::err_from_error(&e));
        let dir = tempfile::tempdir().map_err(failed)?;
        let log = LogStore::open(&dir.path().join("log.redb")).map_err(failed)?;
        let sm = StateMachineStore::open(&dir.path().join("snapshot.redb")).map_err(failed)?;
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite_passes() {
    Suite::test_all(RedbBuilder).await.unwrap();
}
