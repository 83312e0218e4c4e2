//! Output capture: reader threads copy each line to the service's rotated log file and to
//! the event receivers, without ever making the service wait for a slow reader.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::event::{Event, EventBus, Stream};

/// Longest line kept whole; longer ones are split (so a line without newlines cannot grow
/// memory without bound).
const MAX_LINE: usize = 64 * 1024;

/// A log file rotated by size: `NAME.log`, then `NAME.log.1` ... `NAME.log.<keep>`.
pub(crate) struct LogFile {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    size: u64,
    max_bytes: u64,
    keep: usize,
    failed: bool,
}

impl LogFile {
    pub(crate) fn new(path: PathBuf, max_bytes: u64, keep: usize) -> LogFile {
        LogFile {
            path,
            file: None,
            size: 0,
            max_bytes: max_bytes.max(1),
            keep,
            failed: false,
        }
    }

    fn open(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.size = file.metadata()?.len();
            self.file = Some(BufWriter::with_capacity(64 * 1024, file));
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("log file not open"))
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        let numbered = |n: usize| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.keep == 0 {
            std::fs::remove_file(&self.path).or_else(ignore_missing)?;
        } else {
            for n in (1..self.keep).rev() {
                std::fs::rename(numbered(n), numbered(n + 1)).or_else(ignore_missing)?;
            }
            std::fs::rename(&self.path, numbered(1)).or_else(ignore_missing)?;
        }
        self.size = 0;
        Ok(())
    }

    /// Appends `line` and a newline, rotating first when it would pass the size limit.
    pub(crate) fn write_line(&mut self, prefix: &str, line: &[u8]) {
        let result = (|| -> io::Result<()> {
            let len = (prefix.len() + line.len() + 1) as u64;
            self.open()?;
            if self.size > 0 && self.size + len > self.max_bytes {
                self.rotate()?;
            }
            let file = self.open()?;
            file.write_all(prefix.as_bytes())?;
            file.write_all(line)?;
            file.write_all(b"\n")?;
            self.size += len;
            Ok(())
        })();
        if let Err(e) = result
            && !std::mem::replace(&mut self.failed, true)
        {
            // Once per file, so a full disk does not flood the log.
            log::warn!("writing {}: {e}", self.path.display());
        }
    }

    pub(crate) fn flush(&mut self) {
        if let Some(file) = self.file.as_mut() {
            let _ = file.flush();
        }
    }
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// What the reader threads of one process tell the supervisor.
#[derive(Debug, Default)]
pub(crate) struct OutputFlags {
    /// A line said the address was already in use.
    pub(crate) addr_in_use: AtomicBool,
    /// Streams not yet at end of file.
    open: AtomicUsize,
}

/// Where a process's output goes.
#[derive(Clone)]
pub(crate) struct Tap {
    pub(crate) service: String,
    /// Written before each line in the log file (`[setup] ` for setup commands).
    pub(crate) prefix: &'static str,
    pub(crate) log: Arc<Mutex<LogFile>>,
    pub(crate) bus: Arc<EventBus>,
    /// Lines some receiver dropped, for the service's status.
    pub(crate) dropped: Arc<AtomicU64>,
    pub(crate) flags: Arc<OutputFlags>,
    /// Called once both streams have reached end of file.
    pub(crate) on_closed: Arc<dyn Fn() + Send + Sync>,
}

/// Starts one reader thread per stream.
pub(crate) fn capture(
    tap: Tap,
    stdout: Option<impl Read + Send + 'static>,
    stderr: Option<impl Read + Send + 'static>,
) {
    let streams = usize::from(stdout.is_some()) + usize::from(stderr.is_some());
    tap.flags.open.store(streams, Ordering::SeqCst);
    if streams == 0 {
        (tap.on_closed)();
        return;
    }
    if let Some(out) = stdout {
        start_reader(tap.clone(), Stream::Stdout, out);
    }
    if let Some(err) = stderr {
        start_reader(tap, Stream::Stderr, err);
    }
}

fn start_reader(tap: Tap, stream: Stream, pipe: impl Read + Send + 'static) {
    let name = format!("pw-out-{}", tap.service);
    let tap_for_error = tap.clone();
    let spawned = std::thread::Builder::new()
        .name(name)
        .spawn(move || read_lines(&tap, stream, pipe));
    if let Err(e) = spawned {
        log::error!("no reader thread for {}: {e}", tap_for_error.service);
        close_one(&tap_for_error);
    }
}

fn close_one(tap: &Tap) {
    if tap.flags.open.fetch_sub(1, Ordering::SeqCst) == 1 {
        (tap.on_closed)();
    }
}

fn read_lines(tap: &Tap, stream: Stream, pipe: impl Read) {
    let mut reader = BufReader::with_capacity(64 * 1024, pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line_bounded(&mut reader, &mut line) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::debug!("{}: reading {stream:?}: {e}", tap.service);
                break;
            }
        }
        let text = String::from_utf8_lossy(&line);
        if text.contains("lready in use") || text.contains("EADDRINUSE") {
            tap.flags.addr_in_use.store(true, Ordering::SeqCst);
        }
        {
            let mut log = tap.log.lock().unwrap_or_else(|p| p.into_inner());
            log.write_line(tap.prefix, &line);
            // Flush when the pipe has nothing more buffered: cheap in a flood, prompt when
            // quiet.
            if reader.buffer().is_empty() {
                log.flush();
            }
        }
        let event = Event::Output {
            service: tap.service.clone(),
            stream,
            line: text.into_owned(),
        };
        if tap.bus.publish(event) {
            tap.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    tap.log.lock().unwrap_or_else(|p| p.into_inner()).flush();
    close_one(tap);
}

/// Reads one line (without its newline, and without a trailing `\r`) of at most
/// [`MAX_LINE`] bytes. `Ok(false)` at end of file.
fn read_line_bounded(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<bool> {
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(!line.is_empty());
        }
        let room = MAX_LINE - line.len();
        match available.iter().take(room).position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&available[..i]);
                reader.consume(i + 1);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(true);
            }
            None => {
                let n = available.len().min(room);
                line.extend_from_slice(&available[..n]);
                reader.consume(n);
                if line.len() >= MAX_LINE {
                    return Ok(true);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_at_newlines_and_bounded() {
        let data = b"one\r\ntwo\nthree".to_vec();
        let mut reader = BufReader::new(&data[..]);
        let mut line = Vec::new();
        let mut lines = Vec::new();
        while read_line_bounded(&mut reader, &mut line).unwrap() {
            lines.push(String::from_utf8(std::mem::take(&mut line)).unwrap());
        }
        assert_eq!(lines, ["one", "two", "three"]);

        let long = vec![b'x'; MAX_LINE + 10];
        let mut reader = BufReader::new(&long[..]);
        let mut line = Vec::new();
        assert!(read_line_bounded(&mut reader, &mut line).unwrap());
        assert_eq!(line.len(), MAX_LINE);
    }

    #[test]
    fn log_rotates_by_size_and_keeps_a_few() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.log");
        let mut log = LogFile::new(path.clone(), 100, 2);
        for i in 0..40 {
            log.write_line("", format!("line {i:04} ..........").as_bytes());
        }
        log.flush();
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) <= 100);
        assert!(size(&dir.path().join("svc.log.1")) > 0);
        assert!(size(&dir.path().join("svc.log.2")) > 0);
        assert!(!dir.path().join("svc.log.3").exists());
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.ends_with("line 0039 ..........\n"), "{last}");
    }
}
