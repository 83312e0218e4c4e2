//! Nothing pw-bench starts outlives it: a record of every fixture process group and of the
//! command being measured, killed on Ctrl-C, SIGTERM, SIGHUP and panic.
//!
//! The record is a fixed array of atomics because a signal handler may not lock or allocate.
//! What it cannot record, it finds: the supervisor suites' services live in sessions of their
//! own, started by a supervisor and restarted behind pw-bench's back, so after the recorded
//! groups are killed every child of pw-bench (services whose supervisor just died are
//! re-parented to it, the subreaper) is killed too, generation by generation.
//! The release profile aborts on panic, so `Drop` alone would never run there: the panic hook
//! does the killing before the abort.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use crate::sys;

/// How many fixture process groups can be recorded at once.
pub const MAX_GROUPS: usize = 8192;

static GROUPS: [AtomicI32; MAX_GROUPS] = [const { AtomicI32::new(0) }; MAX_GROUPS];
static GROUPS_USED: AtomicUsize = AtomicUsize::new(0);
static MEASURED: AtomicI32 = AtomicI32::new(0);

/// Installs the signal handlers and the panic hook. Call once, early in `main`.
pub fn install() {
    sys::on_termination_signals(on_signal);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_everything();
        reap_everything();
        previous(info);
    }));
}

extern "C" fn on_signal(signal: i32) {
    kill_everything();
    reap_everything();
    sys::reraise(signal);
}

/// SIGKILLs every recorded group and the measured command's. Async-signal-safe.
fn kill_everything() {
    // The measured command leads its own group; the pid alone covers a spawn that has not
    // reached its setpgid yet.
    let measured = MEASURED.load(Ordering::SeqCst);
    sys::kill_group(measured);
    sys::kill_pid(measured);
    let used = GROUPS_USED.load(Ordering::SeqCst).min(MAX_GROUPS);
    for slot in &GROUPS[..used] {
        sys::kill_group(slot.load(Ordering::SeqCst));
    }
}

/// Reaps the killed groups for up to a second, so the fixtures do not linger as zombies for
/// init to collect, and kills (and reaps) every child of pw-bench, adopted orphans included,
/// until none is left. Async-signal-safe: waitpid, kill, open, read and nanosleep, no locks or
/// allocation.
fn reap_everything() {
    for _ in 0..400 {
        if sys::kill_children() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    for _ in 0..200 {
        let used = GROUPS_USED.load(Ordering::SeqCst).min(MAX_GROUPS);
        let mut left = false;
        for slot in &GROUPS[..used] {
            let pgid = slot.load(Ordering::SeqCst);
            if pgid <= 0 {
                continue;
            }
            while let Ok(Some(_)) = sys::reap_group(pgid) {}
            if sys::group_alive(pgid) {
                left = true;
            } else {
                slot.store(0, Ordering::SeqCst);
            }
        }
        if !left {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Records fixture process group `pgid`; `false` when the record is full.
pub fn add_group(pgid: i32) -> bool {
    // Reuse a freed slot first so long runs of start/stop do not exhaust the array.
    let used = GROUPS_USED.load(Ordering::SeqCst).min(MAX_GROUPS);
    for slot in &GROUPS[..used] {
        if slot
            .compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return true;
        }
    }
    let index = GROUPS_USED.fetch_add(1, Ordering::SeqCst);
    if index >= MAX_GROUPS {
        GROUPS_USED.store(MAX_GROUPS, Ordering::SeqCst);
        return false;
    }
    GROUPS[index].store(pgid, Ordering::SeqCst);
    true
}

/// Forgets group `pgid` once it is known to be gone.
pub fn remove_group(pgid: i32) {
    let used = GROUPS_USED.load(Ordering::SeqCst).min(MAX_GROUPS);
    for slot in &GROUPS[..used] {
        let _ = slot.compare_exchange(pgid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// Records the pid (and process group) of the command being measured (0 for none).
pub fn set_measured(pid: i32) {
    MEASURED.store(pid, Ordering::SeqCst);
}
