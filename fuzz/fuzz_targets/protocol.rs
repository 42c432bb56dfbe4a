//! The control protocol decoder on arbitrary bytes, framed as svinit frames
//! them (one request per line). `Request::parse` is what the server runs on
//! every line; the reply and stream-line decoders are what svctl runs on
//! every line it reads. Properties: nothing panics; a parsed request
//! survives `to_line` and parses back to itself; a refused one becomes an
//! error reply of exactly one line that svctl decodes back to the same error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use svinit::control::{Reply, Request, StreamLine};

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        match Request::parse(line) {
            Ok(request) => {
                let again = request.to_line();
                assert_eq!(again.matches('\n').count(), 1, "{again:?}");
                assert_eq!(Request::parse(again.trim_end().as_bytes()), Ok(request));
            }
            Err(error) => {
                let reply = Reply::error(error.clone()).to_line();
                assert_eq!(reply.matches('\n').count(), 1, "{reply:?}");
                let back: Reply = serde_json::from_str(&reply).expect("svctl decodes the reply");
                assert_eq!(back.error, Some(error));
            }
        }
        if let Ok(text) = std::str::from_utf8(line) {
            let _ = serde_json::from_str::<Reply>(text).map(|r| r.into_result::<serde_json::Value>());
            let _ = serde_json::from_str::<StreamLine>(text);
        }
    }
});
