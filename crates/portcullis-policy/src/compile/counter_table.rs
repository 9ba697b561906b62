//! The policy's counters, as a symbol table: conditions may read a counter (`state.<scope>.<name>`)
//! before or after the rule that defines it, so references and definitions meet here and unresolved
//! references are reported once the whole document has been read.

use std::collections::HashMap;
use std::sync::Arc;

use super::reader::Reader;
use crate::counters::{CounterId, Per};
use crate::location::Location;
use crate::model::CounterDef;
use crate::window::WindowSpec;

/// Scope of counters under `all_tools` and `"*"`, as Intercept names it.
pub(super) const GLOBAL_SCOPE: &str = "_global";

#[derive(Default)]
pub(super) struct CounterTable {
    slots: Vec<Slot>,
    index: HashMap<(Arc<str>, Arc<str>), usize>,
}

struct Slot {
    id: CounterId,
    definition: Option<(Per, WindowSpec, Location)>,
    references: Vec<Location>,
}

impl CounterTable {
    fn slot(&mut self, scope: &str, name: &str) -> usize {
        let key: (Arc<str>, Arc<str>) = (scope.into(), name.into());
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let id = CounterId {
            scope: key.0.clone(),
            name: key.1.clone(),
        };
        self.slots.push(Slot {
            id,
            definition: None,
            references: Vec::new(),
        });
        self.index.insert(key, self.slots.len() - 1);
        self.slots.len() - 1
    }

    /// Defines a counter; a second definition of the same `scope.name` is an error.
    pub(super) fn define(
        &mut self,
        reader: &mut Reader,
        scope: &str,
        name: &str,
        per: Per,
        window: WindowSpec,
        at: &Location,
    ) -> usize {
        let i = self.slot(scope, name);
        let slot = &mut self.slots[i];
        match &slot.definition {
            Some((_, _, first)) => reader.error(
                at,
                format!("duplicate counter \"{scope}.{name}\" (also defined at {first})"),
                "give each counter its own name, or use a different window",
            ),
            None => slot.definition = Some((per, window, at.clone())),
        }
        i
    }

    /// Records a read of `scope.name`, defined or not yet.
    pub(super) fn reference(&mut self, scope: &str, name: &str, at: &Location) -> usize {
        let i = self.slot(scope, name);
        self.slots[i].references.push(at.clone());
        i
    }

    /// Reports references to counters never defined; returns the definitions in index order.
    pub(super) fn finish(self, reader: &mut Reader) -> Vec<CounterDef> {
        let mut defs = Vec::with_capacity(self.slots.len());
        for slot in self.slots {
            match slot.definition {
                Some((per, window, _)) => defs.push(CounterDef {
                    id: slot.id,
                    per,
                    window,
                }),
                None => {
                    for at in &slot.references {
                        reader.error(
                            at,
                            format!("condition reads state.{} but no such counter is defined", slot.id),
                            format!(
                                "define counter {:?} in the limits of tools.{} (or all_tools for _global), or in a rule's state block",
                                slot.id.name, slot.id.scope
                            ),
                        );
                    }
                    // Keeps indices aligned; the policy will not compile anyway.
                    defs.push(CounterDef {
                        id: slot.id,
                        per: Per::Identity,
                        window: WindowSpec { len_ms: 1 },
                    });
                }
            }
        }
        defs
    }
}
