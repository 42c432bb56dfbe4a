//! The connection to svinit: one request, one reply line, or a followed
//! stream; every way it can fail, with its exit code.

use std::io;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use svinit::control::{ErrorKind, ProtocolError, Reply, Request, StreamLine};

use crate::{
    EXIT_FAILED, EXIT_OK, EXIT_UNKNOWN_SERVICE, EXIT_UNREACHABLE, EXIT_USAGE, REPLY_TIMEOUT,
};

/// Why svctl stops, with its exit code and message.
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// An error reply from svinit, with the exit code its kind calls for.
    pub(crate) fn from_reply(error: ProtocolError) -> Failure {
        let code = match error.kind {
            ErrorKind::UnknownService => EXIT_UNKNOWN_SERVICE,
            ErrorKind::BadName => EXIT_USAGE,
            _ => EXIT_FAILED,
        };
        Failure::new(code, error.message)
    }

    /// svinit knows no service of that name (any more).
    pub(crate) fn is_unknown_service(&self) -> bool {
        self.code == EXIT_UNKNOWN_SERVICE
    }

    pub(crate) fn report(self) -> u8 {
        if !self.message.is_empty() {
            eprintln!("svctl: {}", self.message);
        }
        self.code
    }
}

pub(crate) struct Connection {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Connection {
    pub(crate) fn open(path: &Path) -> Result<Connection, Failure> {
        let unreachable = |err: io::Error| {
            Failure::new(
                EXIT_UNREACHABLE,
                format!(
                    "cannot reach svinit at {}: {} (is svinit running? -s or SVINIT_SOCKET choose another socket)",
                    path.display(),
                    plain_error(&err)
                ),
            )
        };
        let stream = UnixStream::connect(path).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(unreachable)?;
        let writer = stream.try_clone().map_err(unreachable)?;
        Ok(Connection {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
            writer,
        })
    }

    pub(crate) fn lost(&self, detail: impl std::fmt::Display) -> Failure {
        Failure::new(
            EXIT_UNREACHABLE,
            format!("svinit at {} {detail}", self.path.display()),
        )
    }

    /// Sends `request` and reads its reply. A refused connection still has
    /// its error line to read even when the write failed.
    pub(crate) fn call(&mut self, request: &Request) -> Result<Reply, Failure> {
        let sent = self.writer.write_all(request.to_line().as_bytes());
        match self.read_line()? {
            Some(line) => serde_json::from_str(&line)
                .map_err(|err| self.lost(format!("sent an unreadable reply: {err}"))),
            None => Err(match sent {
                Err(err) => self.lost(format!("closed the connection: {}", plain_error(&err))),
                Ok(()) => self.lost("closed the connection without answering"),
            }),
        }
    }

    /// Sends `request` and decodes the data of an ok reply.
    pub(crate) fn ask<T: for<'de> serde::Deserialize<'de>>(
        &mut self,
        request: &Request,
    ) -> Result<T, Failure> {
        self.call(request)?
            .into_result()
            .map_err(Failure::from_reply)
    }

    /// The next line, or `None` at the end of the connection.
    pub(crate) fn read_line(&mut self) -> Result<Option<String>, Failure> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(line)),
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset && line.is_empty() => Ok(None),
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(self.lost(format!(
                    "did not answer within {}s",
                    REPLY_TIMEOUT.as_secs()
                )))
            }
            Err(err) => Err(self.lost(format!("failed: {}", plain_error(&err)))),
        }
    }

    /// A followed stream (`events`, `logs -f`) only ends when svinit goes
    /// away (it exited, or dropped this client): exit 5, not a silent 0 a
    /// monitoring loop would take for success.
    pub(crate) fn stream_lost(&self) -> Failure {
        self.lost("closed the stream (svinit exited or stopped serving this client)")
    }

    /// Streams are open-ended: no reply timeout.
    pub(crate) fn follow(&mut self) {
        let _ = self.reader.get_ref().set_read_timeout(None);
    }

    /// The next line of a stream, or `None` when svinit ends it.
    pub(crate) fn next_stream_line(&mut self) -> Result<Option<StreamLine>, Failure> {
        loop {
            let Some(line) = self.read_line()? else {
                return Ok(None);
            };
            // A final error (e.g. svinit shutting down) ends the stream.
            if let Ok(reply) = serde_json::from_str::<Reply>(&line)
                && let Some(error) = reply.error
            {
                return Err(Failure::from_reply(error));
            }
            if let Ok(stream_line) = serde_json::from_str::<StreamLine>(&line) {
                return Ok(Some(stream_line));
            }
        }
    }
}

/// `No such file or directory`, without std's ` (os error 2)`.
pub(crate) fn plain_error(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(errno) => nix::errno::Errno::from_raw(errno).desc().to_string(),
        None => err.to_string(),
    }
}

/// Commands whose whole answer is ok or an error.
pub(crate) fn simple(connection: &mut Connection, request: &Request) -> Result<u8, Failure> {
    connection.ask::<serde_json::Value>(request)?;
    Ok(EXIT_OK)
}

/// `svctl shutdown`: asks, then (unless `--no-wait`) waits until nobody
/// answers on the socket any more: svinit has stopped its services and
/// exited. Without `--timeout` it waits as long as the shutdown takes.
pub(crate) fn shutdown(
    mut connection: Connection,
    path: &Path,
    wait: bool,
    timeout: Option<Duration>,
) -> Result<u8, Failure> {
    connection.ask::<serde_json::Value>(&Request::Shutdown)?;
    drop(connection);
    if !wait {
        return Ok(EXIT_OK);
    }
    let deadline = timeout.map(|timeout| Instant::now() + timeout);
    while UnixStream::connect(path).is_ok() {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(Failure::new(
                EXIT_FAILED,
                format!("svinit at {} is still shutting down", path.display()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(EXIT_OK)
}
