//! What the supervisor suites read from `/proc`: a process's CPU time and memory, its
//! threads, its children, a process's command line and identity.
//!
//! Linux only: elsewhere every read fails with "not found", which the suites report. The
//! parsers are separate from the reads so that tests can feed them text.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

/// A process as the kernel knows it: the pid and its start time (clock ticks after boot), so
/// that a reused pid is never taken for the process that had it before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    /// The pid.
    pub pid: u32,
    /// `starttime`, field 22 of `/proc/PID/stat`.
    pub start_time: u64,
}

/// The fields of `/proc/PID/stat` the suites use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The command name (`comm`), without its parentheses.
    pub comm: String,
    /// One-letter state (`R`, `S`, `Z`, ...).
    pub state: char,
    /// The parent's pid.
    pub ppid: u32,
    /// User plus system CPU time, clock ticks. For a process (`/proc/PID/stat`) this sums every
    /// thread, the exited ones included; for one thread (`/proc/PID/task/TID/stat`), that
    /// thread's.
    pub cpu_ticks: u64,
    /// Start time, clock ticks after boot.
    pub start_time: u64,
}

/// Parses one line of `/proc/PID/stat`. The command name may hold spaces and parentheses, so
/// the fields are counted from the last `)`.
///
/// ```
/// let line = "42 (a (b) c) S 1 42 42 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 0 9000 0 0";
/// let stat = pwbench::procfs::parse_stat(line).unwrap();
/// assert_eq!((stat.comm.as_str(), stat.ppid, stat.cpu_ticks, stat.start_time), ("a (b) c", 1, 10, 9000));
/// ```
pub fn parse_stat(line: &str) -> Option<Stat> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let comm = line.get(open + 1..close)?.to_string();
    // Fields from 3 (state) on; field N is rest[N - 3].
    let rest: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { rest.get(n - 3)?.parse().ok() };
    Some(Stat {
        comm,
        state: rest.first()?.chars().next()?,
        ppid: u32::try_from(field(4)?).ok()?,
        cpu_ticks: field(14)? + field(15)?,
        start_time: field(22)?,
    })
}

/// A process's memory, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// The largest it has been (`VmHWM`), KiB.
    pub hwm_kib: u64,
    /// Threads now.
    pub threads: usize,
}

/// Parses `/proc/PID/status`: `VmRSS`, `VmHWM` and `Threads`. `None` when a field is missing
/// (a zombie has no memory lines).
pub fn parse_status(text: &str) -> Option<Memory> {
    let mut rss = None;
    let mut hwm = None;
    let mut threads = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let number = || value.split_whitespace().next()?.parse::<u64>().ok();
        match key {
            "VmRSS" => rss = number(),
            "VmHWM" => hwm = number(),
            "Threads" => threads = number().map(|n| n as usize),
            _ => {}
        }
    }
    Some(Memory {
        rss_kib: rss?,
        hwm_kib: hwm?,
        threads: threads?,
    })
}

/// Parses a `children` file: pids separated by spaces.
pub fn parse_children(text: &str) -> Vec<u32> {
    text.split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `/proc/PID/stat`.
pub fn stat(pid: u32) -> io::Result<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| bad(format!("/proc/{pid}/stat"), &text))
}

/// `/proc/PID/status`'s memory lines.
pub fn memory(pid: u32) -> io::Result<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status(&text).ok_or_else(|| bad(format!("/proc/{pid}/status"), &text))
}

/// The process's identity, when it exists (zombies included).
pub fn identity(pid: u32) -> Option<Identity> {
    stat(pid).ok().map(|s| Identity {
        pid,
        start_time: s.start_time,
    })
}

/// Whether `id` is still that process and not a zombie.
pub fn alive(id: Identity) -> bool {
    stat(id.pid).is_ok_and(|s| s.start_time == id.start_time && s.state != 'Z')
}

/// The command line's arguments (argv), empty for a zombie or a kernel thread.
pub fn cmdline(pid: u32) -> io::Result<Vec<Vec<u8>>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline"))?;
    Ok(raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// The thread ids of `pid`.
pub fn tasks(pid: u32) -> io::Result<Vec<u32>> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/task"))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect())
}

/// The children of one thread of `pid` (`CONFIG_PROC_CHILDREN`, on in every distribution
/// kernel): a child belongs to the thread that forked it.
pub fn task_children(pid: u32, tid: u32) -> io::Result<Vec<u32>> {
    let path = PathBuf::from(format!("/proc/{pid}/task/{tid}/children"));
    Ok(parse_children(&std::fs::read_to_string(path)?))
}

/// Every pid on the machine.
pub fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// One thread's CPU time so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadTicks {
    /// Its name (`comm`).
    pub name: String,
    /// User plus system time, clock ticks.
    pub cpu_ticks: u64,
    /// Voluntary plus involuntary context switches: each voluntary one is a wake-up.
    pub switches: u64,
}

/// Every live thread of `pid`, by tid.
pub fn threads(pid: u32) -> BTreeMap<u32, ThreadTicks> {
    let mut out = BTreeMap::new();
    for tid in tasks(pid).unwrap_or_default() {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) else {
            continue;
        };
        let Some(stat) = parse_stat(&text) else {
            continue;
        };
        let switches = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status"))
            .map(|s| parse_switches(&s))
            .unwrap_or(0);
        out.insert(
            tid,
            ThreadTicks {
                name: stat.comm,
                cpu_ticks: stat.cpu_ticks,
                switches,
            },
        );
    }
    out
}

/// `voluntary_ctxt_switches` plus `nonvoluntary_ctxt_switches` from a `status` file.
pub fn parse_switches(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.ends_with("ctxt_switches")
                .then(|| value.trim().parse::<u64>().ok())?
        })
        .sum()
}

fn bad(path: String, text: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{path} did not parse: {:?}", text.trim()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_counts_fields_after_the_last_parenthesis() {
        let line = "1234 (pm2 v7: God) S 1 1234 1234 0 -1 4194560 5000 0 0 0 250 120 0 0 20 0 11 0 455585 1000000 9000 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.comm, "pm2 v7: God");
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.cpu_ticks, 370);
        assert_eq!(stat.start_time, 455585);
    }

    #[test]
    fn a_truncated_stat_does_not_parse() {
        assert_eq!(parse_stat("12 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_gives_rss_hwm_and_threads() {
        let text = "Name:\tportwarden\nThreads:\t98\nVmHWM:\t   14652 kB\nVmRSS:\t   14000 kB\n\
                    voluntary_ctxt_switches:\t10\nnonvoluntary_ctxt_switches:\t2\n";
        assert_eq!(
            parse_status(text),
            Some(Memory {
                rss_kib: 14000,
                hwm_kib: 14652,
                threads: 98
            })
        );
        assert_eq!(parse_switches(text), 12);
        // A zombie's status has no memory lines.
        assert_eq!(
            parse_status("Name:\tx\nState:\tZ (zombie)\nThreads:\t1\n"),
            None
        );
    }

    #[test]
    fn children_are_space_separated() {
        assert_eq!(parse_children("703 716 \n"), [703, 716]);
        assert!(parse_children("").is_empty());
    }

    #[test]
    fn this_process_reads_back() {
        let me = std::process::id();
        let stat = stat(me).unwrap();
        assert!(stat.start_time > 0);
        assert!(memory(me).unwrap().rss_kib > 0);
        assert!(alive(identity(me).unwrap()));
        assert!(!threads(me).is_empty());
        assert!(!cmdline(me).unwrap().is_empty());
        let child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let found = tasks(me)
            .unwrap()
            .into_iter()
            .any(|tid| task_children(me, tid).unwrap_or_default().contains(&pid));
        // SAFETY: kill takes integers only; the pid is our own child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let mut child = child;
        let _ = child.wait();
        assert!(
            found,
            "the child {pid} is listed in one of our tasks' children"
        );
    }
}
