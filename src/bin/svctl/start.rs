//! Where svctl starts: the C `main`, in place of std's start-up, and what
//! of std's start-up svctl keeps. Then the arguments, to `run`.

use std::ffi::{CStr, c_char, c_int};

use crate::{EXIT_USAGE, USAGE, parse_args, run};

/// The entry point the C runtime calls. std's own start-up (which a `fn
/// main` gets) reads /proc/self/maps to place a stack guard (glibc) and
/// sets up a signal stack: about a quarter of the CPU time of `svctl
/// status NAME` (bench/bench.py's status row). svctl keeps the two parts
/// of it its behaviour rests on: SIGPIPE ignored (a closed stdout is an
/// EPIPE that `say!` turns into a quiet exit 0), and descriptors 0-2 open
/// (else the control socket could become stdout). A panic still exits
/// 101 with std's message.
// In the unit tests the test harness has the C `main`; this one is the root
// of what they leave unreached.
#[cfg_attr(not(test), unsafe(no_mangle))]
#[cfg_attr(test, allow(dead_code))]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // SAFETY: the C runtime passes argc valid NUL-terminated strings.
    let args = unsafe { arguments(argc, argv) };
    // SAFETY: single-threaded, before anything else runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    keep_stdio_open();
    let code = std::panic::catch_unwind(|| cli_main(args)).unwrap_or(101);
    // What `print!` left without a newline; std's start-up did this at exit.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    c_int::from(code)
}

/// The arguments after the program name; `None` for one that is not UTF-8.
///
/// # Safety
/// `argv` holds `argc` valid NUL-terminated strings.
unsafe fn arguments(argc: c_int, argv: *const *const c_char) -> Vec<Option<String>> {
    (1..usize::try_from(argc).unwrap_or(0))
        // SAFETY: i < argc, as the caller promises.
        .map(|i| unsafe { CStr::from_ptr(*argv.add(i)) })
        .map(|arg| arg.to_str().ok().map(str::to_owned))
        .collect()
}

/// Opens /dev/null on any of descriptors 0-2 that is closed, as std's
/// start-up does.
fn keep_stdio_open() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for pollfd in fds {
        if pollfd.revents & libc::POLLNVAL != 0 {
            // SAFETY: a constant path; the lowest free descriptor is the closed one.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

fn cli_main(args: Vec<Option<String>>) -> u8 {
    let Some(args) = args.into_iter().collect::<Option<Vec<String>>>() else {
        eprintln!("svctl: an argument is not valid UTF-8");
        return EXIT_USAGE;
    };
    let cli = match parse_args(args) {
        Ok(cli) => cli,
        Err(error) if error.nothing_given => {
            eprint!("{USAGE}");
            return EXIT_USAGE;
        }
        Err(error) => {
            eprintln!("svctl: {error}");
            return EXIT_USAGE;
        }
    };
    run(cli)
}
