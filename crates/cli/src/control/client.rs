//! The client side of the control socket: what `status`, `stop`, `restart`, `logs` and the
//! `up -d` parent use to talk to a running supervisor.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::paths::StatePaths;
use super::protocol::{ErrorKind, Reply, Request, StreamItem};
use crate::exit::{self, CliError, CliResult};

/// A connection to a project's supervisor.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    path: PathBuf,
}

impl Client {
    /// Connects to the project's supervisor; `Ok(None)` when none answers (no socket, or a
    /// socket a dead supervisor left behind).
    pub fn connect(paths: &StatePaths) -> CliResult<Option<Client>> {
        let Some(path) = paths.socket_to_connect() else {
            return Ok(None);
        };
        match UnixStream::connect(&path) {
            Ok(stream) => {
                let writer = stream.try_clone().map_err(|e| {
                    CliError::failure(format!("the control socket {}: {e}", path.display()))
                })?;
                Ok(Some(Client {
                    reader: BufReader::new(stream),
                    writer,
                    path,
                }))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(CliError::failure(format!(
                "cannot connect to the supervisor's socket {}: {e}",
                path.display()
            ))),
        }
    }

    /// Gives up on an answer after `timeout` (`None`: wait for ever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> CliResult {
        self.writer
            .set_read_timeout(timeout)
            .map_err(|e| CliError::failure(format!("the control socket: {e}")))
    }

    /// Sends a request. A supervisor that refuses a peer answers before reading anything and
    /// closes the connection, so a failed write is followed by a look for that answer.
    fn send(&mut self, request: &Request) -> CliResult<Option<Reply>> {
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        let written = self
            .writer
            .write_all(&line)
            .and_then(|()| self.writer.flush());
        match written {
            Ok(()) => Ok(None),
            Err(e) => match self.read_line::<Reply>() {
                Ok(Some(reply)) => Ok(Some(reply)),
                _ => Err(CliError::failure(format!(
                    "the supervisor closed {} before taking the request: {e}",
                    self.path.display()
                ))),
            },
        }
    }

    fn read_line<T: DeserializeOwned>(&mut self) -> CliResult<Option<T>> {
        let mut line = String::new();
        let read = self.reader.read_line(&mut line).map_err(|e| {
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) {
                CliError::failure("the supervisor did not answer in time")
            } else {
                CliError::failure(format!("reading from the supervisor: {e}"))
            }
        })?;
        if read == 0 {
            return Ok(None);
        }
        serde_json::from_str(&line).map(Some).map_err(|e| {
            CliError::failure(format!("the supervisor sent something unreadable: {e}"))
        })
    }

    fn reply(&mut self) -> CliResult<Reply> {
        self.read_line::<Reply>()?.ok_or_else(|| {
            CliError::failure(format!(
                "the supervisor closed {} without answering",
                self.path.display()
            ))
        })
    }

    /// Sends `request` and decodes the result of its reply.
    pub fn call<T: DeserializeOwned>(&mut self, request: &Request) -> CliResult<T> {
        let reply = match self.send(request)? {
            Some(early) => early,
            None => self.reply()?,
        };
        result_of(reply)
    }

    /// Sends a stream request; returns the reply's result and the stream that follows.
    pub fn stream<T: DeserializeOwned>(mut self, request: &Request) -> CliResult<(T, Stream)> {
        let reply = match self.send(request)? {
            Some(early) => early,
            None => self.reply()?,
        };
        let result = result_of(reply)?;
        Ok((result, Stream { client: self }))
    }
}

fn result_of<T: DeserializeOwned>(reply: Reply) -> CliResult<T> {
    if !reply.ok {
        let error = reply.error.unwrap_or(super::protocol::ReplyError {
            kind: ErrorKind::Failed,
            message: "the supervisor said no without saying why".into(),
        });
        let code = match error.kind {
            ErrorKind::BadRequest => exit::USAGE,
            ErrorKind::NotFound => exit::NOT_FOUND,
            ErrorKind::Refused => exit::REFUSED,
            ErrorKind::Failed => exit::FAILURE,
        };
        return Err(CliError::new(code, error.message));
    }
    serde_json::from_value(reply.result.unwrap_or(serde_json::Value::Null))
        .map_err(|e| CliError::failure(format!("the supervisor's answer is unreadable: {e}")))
}

/// The items following a stream request's reply.
#[derive(Debug)]
pub struct Stream {
    client: Client,
}

impl Stream {
    /// The next item; `None` when the supervisor closed the connection.
    pub fn next_item(&mut self) -> CliResult<Option<StreamItem>> {
        self.client.read_line()
    }
}
