//! The control protocol spoken on svinit's Unix socket, shared by the server
//! (`runtime::control`) and the client (`svctl`): one JSON object per line,
//! each carrying `"v": 1`. Requests are `{"v":1,"cmd":"status",...}`; replies
//! are `{"v":1,"ok":true,"data":...}` or `{"v":1,"ok":false,"error":{"kind":
//! "unknown-service","message":"..."}}`; streams (`events`, `logs -f`) follow
//! an ok reply with `{"v":1,"event":{...}}` / `{"v":1,"log":"..."}` lines
//! (`"service"` too when `logs` named its services with `names`).
//! Also the default socket path of SPEC.md §1, which both binaries compute.
//! Nothing here does I/O on the socket.
//!
//! One file per part: `request.rs` (the commands and their parsing),
//! `reply.rs` (the answer envelope, errors, stream lines, the data of
//! every reply but `status`), `status.rs` (the wire status of a service)
//! and `paths.rs` (the socket path). Every item is re-exported here:
//! `crate::control::X` is its one path.

mod paths;
mod reply;
mod request;
mod status;

/// The protocol version every line carries as `"v"`.
pub const PROTOCOL_VERSION: u32 = 1;

pub use self::paths::{SOCKET_ENV, default_socket_path, default_socket_path_for, socket_path};
pub use self::reply::{
    BlameEntry, ChangedService, ErrorKind, EventKind, EventRecord, EventState, EventsReport,
    LogsReport, MAX_LOGS_REPLY_BYTES, MergedLogsReport, PlotReport, PlotRun, PlotService,
    ProtocolError, ReloadReport, Reply, ServiceLine, StreamLine, TreeNode, TreeReport,
};
pub use self::request::{COMMANDS, MAX_REQUEST_BYTES, Request, parse_signal};
pub use self::status::{
    ExitJson, HealthJson, HealthLastJson, HealthStateJson, HistoryEntry, Running,
    ServiceStatusJson, State, StatusReport, WallClock,
};
pub(crate) use self::status::{reason_code_text, reason_text, round_millis, round_unix_millis};

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
