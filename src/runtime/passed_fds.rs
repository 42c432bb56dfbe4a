//! Descriptors that other processes pass to svinit (SCM_RIGHTS) on its
//! sockets: the control socket and the notify sockets, which anyone who
//! can reach them may send to. svinit never wants one, and closing one can
//! block: the last close of a TCP socket with a long SO_LINGER and unsent
//! data waits in close(2), and PID 1 would wait with it (its signals are
//! blocked, so nothing interrupts the wait).
//!
//! - Where the kernel has `SO_PASSRIGHTS` (Linux 6.16), svinit's sockets
//!   refuse passed descriptors: the sender's `sendmsg` fails with EPERM.
//!   Set on the listener, it holds for every accepted connection too.
//! - Elsewhere they are received explicitly (room for the kernel's
//!   maximum of 253 per message, so none is dropped, and so closed, by the
//!   kernel in svinit), each socket among them is given `SO_LINGER` 0 (an
//!   abortive close that never waits), and then closed. Other kinds of
//!   descriptor whose close may wait (a file on a hung NFS or FUSE mount)
//!   remain a risk on those kernels.
//! - A control connection is shut for reading and drained the same way
//!   before it is closed, so what a client queued is not closed by the
//!   kernel in svinit either.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, Shutdown, recvmsg, shutdown};

/// `SO_PASSRIGHTS` (not yet in the libc crate).
const SO_PASSRIGHTS: libc::c_int = 83;
/// The most descriptors one message can carry (`SCM_MAX_FD`).
const MAX_FDS_PER_MESSAGE: usize = 253;
/// Reads made to drain a connection before it is closed.
const DRAIN_READS: usize = 16;

/// Makes `socket` refuse passed descriptors; `false` when the kernel
/// cannot (they are then received and closed by [`recv`]).
pub(crate) fn refuse(socket: BorrowedFd<'_>) -> bool {
    let off: libc::c_int = 0;
    // SAFETY: setsockopt with a pointer to an int and its size.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PASSRIGHTS,
            (&off as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    result == 0
}

/// Closes descriptors received from elsewhere without waiting: a socket
/// among them gets `SO_LINGER` 0 first (ENOTSOCK for anything else is
/// ignored).
pub(crate) fn close_received(fds: impl IntoIterator<Item = RawFd>) {
    let abort = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    for raw in fds {
        // SAFETY: the kernel just gave us `raw`; nobody else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: setsockopt with a pointer to a `linger` and its size.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&abort as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        drop(fd);
    }
}

/// A non-blocking read of a stream socket that takes passed descriptors
/// in and closes them with [`close_received`]: `Ok(0)` at end of stream,
/// `WouldBlock` when nothing waits.
pub(crate) fn recv(socket: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS_PER_MESSAGE]);
    let mut iov = [IoSliceMut::new(buf)];
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
    let msg = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), flags)
        .map_err(io::Error::from)?;
    let bytes = msg.bytes;
    if let Ok(cmsgs) = msg.cmsgs() {
        for cmsg in cmsgs {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                close_received(fds);
            }
        }
    }
    Ok(bytes)
}

/// Before a control connection is closed: no more input, and what is
/// queued read (its descriptors closed without waiting). Bounded.
pub(crate) fn drain_before_close(socket: BorrowedFd<'_>) {
    let _ = shutdown(socket.as_raw_fd(), Shutdown::Read);
    let mut scratch = [0u8; 4096];
    for _ in 0..DRAIN_READS {
        match recv(socket, &mut scratch) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if err.raw_os_error() == Some(Errno::EINTR as i32) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    /// A TCP socket whose close would wait: SO_LINGER a long time, and
    /// data its peer (kept open, never read) has not taken.
    fn lingering_socket() -> (OwnedFd, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (peer, _) = listener.accept().unwrap();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 600,
        };
        // SAFETY: setsockopt with a `linger`.
        unsafe {
            libc::setsockopt(
                client.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        client.set_nonblocking(true).unwrap();
        let mut client = client;
        let chunk = vec![b'x'; 65536];
        while client.write(&chunk).is_ok() {}
        (OwnedFd::from(client), peer)
    }

    #[test]
    fn a_lingering_socket_is_closed_without_waiting() {
        let (fd, _peer) = lingering_socket();
        let start = Instant::now();
        close_received([std::os::fd::IntoRawFd::into_raw_fd(fd)]);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }

    /// Both ways: refused by the kernel (where it has SO_PASSRIGHTS), and
    /// received and closed without waiting (as on older kernels).
    #[test]
    fn descriptors_passed_on_a_stream_are_refused_or_closed_without_waiting() {
        for try_refusing in [true, false] {
            let (ours, theirs) = UnixStream::pair().unwrap();
            let (lingering, _peer) = lingering_socket();
            let raw = [lingering.as_raw_fd()];
            let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&raw)];
            let iov = [std::io::IoSlice::new(b"hello")];
            let refused = try_refusing && refuse(ours.as_fd());
            let sent = nix::sys::socket::sendmsg::<()>(
                theirs.as_raw_fd(),
                &iov,
                &cmsg,
                MsgFlags::empty(),
                None,
            );
            if refused {
                // Ours is the last reference: not waiting here either.
                close_received([std::os::fd::IntoRawFd::into_raw_fd(lingering)]);
            } else {
                // The one in flight is now the last: `recv` must not wait.
                drop(lingering);
            }
            if refused {
                assert_eq!(sent, Err(Errno::EPERM), "SO_PASSRIGHTS refuses it");
                nix::sys::socket::send(theirs.as_raw_fd(), b"hello", MsgFlags::empty()).unwrap();
            } else {
                assert_eq!(sent, Ok(5));
            }
            let start = Instant::now();
            let mut buf = [0u8; 16];
            assert_eq!(recv(ours.as_fd(), &mut buf).unwrap(), 5);
            assert_eq!(&buf[..5], b"hello");
            drain_before_close(ours.as_fd());
            drop(ours);
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "refusing {try_refusing}: {:?}",
                start.elapsed()
            );
        }
    }
}
