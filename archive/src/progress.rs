//! Progress reporting from library code; the CLI draws it.

/// Told how far a long step has come.
pub trait Progress: Send + Sync {
    /// A new phase with a total (bytes, builds…), or `None` when unknown.
    fn start(&self, what: &str, total: Option<u64>);
    /// Sets the position within the current phase.
    fn set(&self, position: u64);
    /// The phase is over.
    fn finish(&self);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _what: &str, _total: Option<u64>) {}
    fn set(&self, _position: u64) {}
    fn finish(&self) {}
}
