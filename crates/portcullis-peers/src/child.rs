//! A spawned peer that is ended, by its own pid, when the test is done with it (or panics).

use std::process::Child;

/// Owns a child process; dropping it kills that process (only that one) and reaps it.
#[derive(Debug)]
pub struct ChildGuard(Child);

impl ChildGuard {
    /// Takes ownership of a spawned child.
    pub fn new(child: Child) -> Self {
        Self(child)
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// The child, e.g. to take its stdout.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // Already exited is fine; anything else we can do nothing about in a destructor.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
