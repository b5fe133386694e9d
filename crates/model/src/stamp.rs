//! Who makes an edit, and when.

use jiff::Timestamp;

/// Who makes an edit and when. The library reads no clock: callers pass the time in, so
/// tests are deterministic and a replayed edit keeps its time. Registers, journal entries,
/// measurements, expenses and resolutions record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The person (a user name, as the server knows them).
    pub by: String,
    /// When.
    pub at: Timestamp,
}

impl Stamp {
    /// A stamp for `by` at `at`.
    pub fn new(by: impl Into<String>, at: Timestamp) -> Self {
        Stamp { by: by.into(), at }
    }
}
