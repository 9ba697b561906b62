//! Named policies with their full version history.

use std::sync::Arc;

use portcullis_policy::Timestamp;
use serde::{Deserialize, Serialize};

use super::State;
use crate::{Applied, ApplyError, PolicyFormat};

/// Which policy applies: a name, optionally pinned to one revision.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRef {
    /// The policy's name.
    pub name: String,
    /// A pinned revision; absent: the latest.
    pub revision: Option<u64>,
}

/// Every version a policy ever had, oldest first. Revision `n` is at position `n - 1`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyHistory {
    /// The versions; shared so a new version doesn't copy the old texts.
    pub versions: Vec<Arc<PolicyVersion>>,
    /// A candidate evaluated and audited beside the latest version, never enforced. Its revision is
    /// the one it would get as the next version.
    #[serde(default)]
    pub shadow: Option<Arc<PolicyVersion>>,
}

impl PolicyHistory {
    /// The newest version.
    pub fn latest(&self) -> Option<&Arc<PolicyVersion>> {
        self.versions.last()
    }

    /// The version with this revision.
    pub fn revision(&self, revision: u64) -> Option<&Arc<PolicyVersion>> {
        let position = usize::try_from(revision.checked_sub(1)?).ok()?;
        self.versions.get(position)
    }

    /// The current revision number (0 when there is none).
    pub fn current_revision(&self) -> u64 {
        self.latest().map_or(0, |version| version.revision)
    }
}

/// One version of a policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyVersion {
    /// Its revision, assigned when applied: 1, 2, 3, ...
    pub revision: u64,
    /// The document as written.
    pub text: String,
    /// How it is written.
    pub format: PolicyFormat,
    /// Who wrote it.
    pub author: String,
    /// When it was proposed (the proposer's clock).
    pub proposed_at: Timestamp,
    /// The Raft log index that stored it.
    pub log_index: u64,
}

pub(super) struct NewVersion {
    pub(super) name: String,
    pub(super) text: String,
    pub(super) format: PolicyFormat,
    pub(super) author: String,
    pub(super) at: Timestamp,
    pub(super) expected_revision: Option<u64>,
    pub(super) shadow: bool,
    pub(super) log_index: u64,
}

pub(super) fn put(state: &mut State, new: NewVersion) -> Result<Applied, ApplyError> {
    let actual = state
        .policies
        .get(&new.name)
        .map_or(0, PolicyHistory::current_revision);
    if let Some(expected) = new.expected_revision
        && expected != actual
    {
        return Err(ApplyError::StaleRevision {
            name: new.name,
            expected,
            actual,
        });
    }
    let revision = actual.saturating_add(1);
    let version = |new: NewVersion| PolicyVersion {
        revision,
        text: new.text,
        format: new.format,
        author: new.author,
        proposed_at: new.at,
        log_index: new.log_index,
    };
    if new.shadow {
        let name = new.name.clone();
        let history = Arc::make_mut(&mut state.policies)
            .entry(name.clone())
            .or_default();
        history.shadow = Some(Arc::new(version(new)));
        return Ok(Applied::PolicyVersion {
            name,
            revision,
            unchanged: false,
        });
    }
    let latest = state.policies.get(&new.name).and_then(PolicyHistory::latest);
    if latest.is_some_and(|latest| latest.text == new.text && latest.format == new.format) {
        return Ok(Applied::PolicyVersion {
            name: new.name,
            revision: actual,
            unchanged: true,
        });
    }
    let name = new.name.clone();
    let history = Arc::make_mut(&mut state.policies)
        .entry(name.clone())
        .or_default();
    history.versions.push(Arc::new(version(new)));
    // Promoting a change ends its shadow trial.
    history.shadow = None;
    Ok(Applied::PolicyVersion {
        name,
        revision,
        unchanged: false,
    })
}

/// Checks that a policy (at a revision, when pinned) exists.
pub(super) fn resolve(state: &State, name: &str, revision: Option<u64>) -> Result<(), ApplyError> {
    let found = state.policies.get(name).is_some_and(|history| match revision {
        Some(revision) => history.revision(revision).is_some(),
        None => history.latest().is_some(),
    });
    if found {
        Ok(())
    } else {
        Err(ApplyError::UnknownPolicy {
            name: name.to_owned(),
            revision,
        })
    }
}
