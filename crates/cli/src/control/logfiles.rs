//! Reading the services' log files (`.portwarden/logs/<service>.log`): their last lines, and
//! following them as they grow (and as the supervisor rotates them).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::paths::{STARTUP_LOG, StatePaths};
use super::protocol::LogLine;

/// Bytes read at a time from the end of a file.
const CHUNK: u64 = 64 * 1024;

/// The last `n` lines of the file at `path` (all of them for `usize::MAX`); a missing file
/// has none. Invalid UTF-8 is replaced.
pub fn tail_lines(path: &Path, n: usize) -> io::Result<Vec<String>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    let len = file.metadata()?.len();
    let mut start = len;
    let mut buffer: Vec<u8> = Vec::new();
    // Read backwards until the buffer holds more than `n` line ends (or the whole file).
    while start > 0 {
        let step = CHUNK.min(start);
        start -= step;
        file.seek(SeekFrom::Start(start))?;
        let mut chunk = vec![0; step as usize];
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buffer);
        buffer = chunk;
        let ends = buffer.iter().filter(|&&b| b == b'\n').count();
        if n != usize::MAX && ends > n {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buffer);
    let mut lines: Vec<&str> = text.lines().collect();
    // A first line cut in the middle (we started reading inside it) is not shown.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines[skip..].iter().map(|l| (*l).to_owned()).collect())
}

/// The services that have a log file, by name.
pub fn logged_services(paths: &StatePaths) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(&paths.logs) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (name != STARTUP_LOG)
                .then(|| name.strip_suffix(".log").map(str::to_owned))
                .flatten()
        })
        .collect();
    names.sort();
    names
}

/// Follows log files by polling: new complete lines since the last look, a file that was
/// rotated (another inode) or truncated read again from its start.
#[derive(Debug)]
pub struct Follower {
    files: Vec<Followed>,
}

#[derive(Debug)]
struct Followed {
    service: String,
    path: PathBuf,
    inode: Option<u64>,
    offset: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// Follows the log of each service from its current end.
    pub fn new(paths: &StatePaths, services: &[String]) -> Follower {
        Follower {
            files: services
                .iter()
                .map(|service| {
                    let path = paths.log_file(service);
                    let meta = std::fs::metadata(&path).ok();
                    Followed {
                        service: service.clone(),
                        inode: meta.as_ref().map(MetadataExt::ino),
                        offset: meta.map(|m| m.len()).unwrap_or(0),
                        path,
                        partial: Vec::new(),
                    }
                })
                .collect(),
        }
    }

    /// The lines written since the last call.
    pub fn poll(&mut self) -> Vec<LogLine> {
        let mut lines = Vec::new();
        for file in &mut self.files {
            if let Err(e) = file.read_new(&mut lines) {
                log::debug!("{}: {e}", file.path.display());
            }
        }
        lines
    }
}

impl Followed {
    fn read_new(&mut self, lines: &mut Vec<LogLine>) -> io::Result<()> {
        let mut handle = match File::open(&self.path) {
            Ok(handle) => handle,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let meta = handle.metadata()?;
        if self.inode != Some(meta.ino()) || meta.len() < self.offset {
            // Rotated or truncated: the new file is read from its start.
            self.inode = Some(meta.ino());
            self.offset = 0;
            self.partial.clear();
        }
        if meta.len() == self.offset {
            return Ok(());
        }
        handle.seek(SeekFrom::Start(self.offset))?;
        let mut fresh = Vec::new();
        handle.take(8 * CHUNK).read_to_end(&mut fresh)?;
        self.offset += fresh.len() as u64;
        self.partial.extend_from_slice(&fresh);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            lines.push(LogLine {
                service: self.service.clone(),
                line: String::from_utf8_lossy(&line[..line.len() - 1]).into_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn tails_are_the_last_lines_even_across_chunks() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.log");
        let mut file = File::create(&path).expect("create");
        for i in 0..20_000 {
            writeln!(file, "line {i}").expect("write");
        }
        let tail = tail_lines(&path, 3).expect("read");
        assert_eq!(tail, ["line 19997", "line 19998", "line 19999"]);
        assert_eq!(tail_lines(&path, usize::MAX).expect("read").len(), 20_000);
        assert!(
            tail_lines(&dir.path().join("none"), 5)
                .expect("missing")
                .is_empty()
        );
    }

    #[test]
    fn the_follower_sees_new_lines_and_rotation() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = StatePaths::new(dir.path());
        std::fs::create_dir_all(&paths.logs).expect("logs");
        let path = paths.log_file("api");
        std::fs::write(&path, "old\n").expect("write");
        let mut follower = Follower::new(&paths, &["api".into()]);
        assert!(follower.poll().is_empty());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        write!(file, "new\npart").expect("write");
        let lines: Vec<String> = follower.poll().into_iter().map(|l| l.line).collect();
        assert_eq!(lines, ["new"]);
        std::fs::rename(&path, dir.path().join("api.log.1")).expect("rotate");
        std::fs::write(&path, "fresh\n").expect("write");
        let lines: Vec<String> = follower.poll().into_iter().map(|l| l.line).collect();
        assert_eq!(lines, ["fresh"]);
        assert_eq!(logged_services(&paths), ["api"]);
    }
}
