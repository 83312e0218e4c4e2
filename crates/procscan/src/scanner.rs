//! Repeated scans for continuous monitoring.

use crate::table::Query;
use crate::{Error, ScanOptions, Snapshot, sys};

/// Scans again and again at a fraction of the cost of [`snapshot`](crate::snapshot).
///
/// The socket table is dumped anew every scan (that is cheap); the expensive part, reading the
/// descriptors of every process, is kept between scans. A scan reads the descriptors of the
/// processes that are new since the previous one (a pid whose `/proc` folder has changed counts
/// as new, which is how a reused pid is noticed), forgets those that exited, and redoes the
/// whole pass (as a cold scan does) when:
/// - a socket appears whose holder is not known: it was opened by a process already read, or
///   handed to one;
/// - or every [`Scanner::full_pass_every`] scans (default 20).
///
/// Holder details are read once per process and kept while it lives, until the next full pass.
///
/// Between full passes, a scan can miss:
/// - a descriptor to an *already known* socket that reaches an *already known* process
///   (passed over a unix socket with `SCM_RIGHTS`, or inherited by a thread that unshared its
///   descriptor table): the socket shows its old holders only;
/// - a known process closing its descriptor to a socket that others still hold: it is still
///   listed as a holder;
/// - a changed command line, name or executable of a known process (after `exec`);
/// - a process whose descriptors became readable (or unreadable) since it was first read.
///
/// Sockets themselves are never missed or stale: the table is read every time. Another
/// user's socket that cannot be attributed forces one full pass when it appears, not more.
///
/// ```
/// use procscan::{ScanOptions, Scanner};
///
/// let mut scanner = Scanner::new();
/// let options = ScanOptions::default();
/// let first = scanner.scan(&options)?; // a full pass
/// let again = scanner.scan(&options)?; // only what changed
/// assert_eq!(first.sockets.len() > 0, again.sockets.len() > 0);
/// # Ok::<(), procscan::Error>(())
/// ```
#[derive(Debug)]
pub struct Scanner {
    cache: sys::ScanCache,
}

impl Scanner {
    /// The default number of scans between full passes.
    pub const DEFAULT_FULL_PASS_EVERY: u32 = 20;

    /// A scanner whose first scan is a full one.
    pub fn new() -> Self {
        Scanner::with_full_pass_every(Self::DEFAULT_FULL_PASS_EVERY)
    }

    /// A scanner that redoes the whole descriptor pass every `scans` scans (1: every time,
    /// as [`snapshot`](crate::snapshot)).
    pub fn with_full_pass_every(scans: u32) -> Self {
        Scanner {
            cache: sys::ScanCache::new(scans),
        }
    }

    /// How many scans pass between full passes.
    pub fn full_pass_every(&self) -> u32 {
        self.cache.full_every()
    }

    /// Whether the last [`Scanner::scan`] redid the whole descriptor pass.
    pub fn last_scan_was_full(&self) -> bool {
        self.cache.last_full()
    }

    /// Scans as [`snapshot`](crate::snapshot) does, reusing what the previous scans learnt.
    /// The options may change from one scan to the next.
    pub fn scan(&mut self, options: &ScanOptions) -> Result<Snapshot, Error> {
        self.cache.scan(&Query::from(options), options.detail)
    }
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}
