//! The lifeline between `inject` and its guardian: a pipe whose write end only `inject` holds
//! (close-on-exec, so no `tc`, `nft` or guardian it starts inherits it). The guardian polls the
//! read end. End of file means `inject` is gone, whatever killed it (SSM's SIGKILL of the
//! command's process group on cancel or timeout, the OOM killer, a crash), and the guardian
//! rolls the fault back at once. `inject --detach` writes [`DETACH`] before it returns on
//! purpose, and the guardian stops watching. The kernel closes the pipe when the process dies,
//! so there is no pid to be reused and no window between a check and a kill.
//!
//! Imports nothing from the rest of the agent.

use std::io;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The byte `inject --detach` writes before it leaves on purpose.
pub const DETACH: u8 = b'D';

/// `inject`'s end: while it is open, `inject` lives.
#[derive(Debug)]
pub struct Lifeline {
    write: OwnedFd,
}

/// The guardian's end.
#[derive(Debug)]
pub struct Watch {
    read: Option<OwnedFd>,
}

/// What the guardian heard on the lifeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Nothing within the timeout: `inject` still runs (or was never watched).
    Quiet,
    /// `inject --detach` left on purpose; the guardian watches no more.
    Detached,
    /// `inject` is gone without saying so: roll back now.
    Gone,
}

/// A new lifeline: `inject`'s end and the read end for the guardian (both close-on-exec; the
/// guardian's is made inheritable in the child only, by [`inherit`]).
pub fn pair() -> io::Result<(Lifeline, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((Lifeline { write }, read))
}

/// In a child between fork and exec: keeps `fd` open across the exec (clears close-on-exec).
/// Async-signal-safe (one fcntl).
pub fn inherit(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the forked child holds; no allocation.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Lifeline {
    /// Tells the guardian that `inject` leaves on purpose (`--detach`): the fault runs to its
    /// deadline.
    pub fn detach(self) -> io::Result<()> {
        let b = [DETACH];
        // SAFETY: write(2) of one byte from a buffer we own, on our descriptor.
        let n = unsafe { libc::write(self.write.as_raw_fd(), b.as_ptr().cast(), 1) };
        if n == 1 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Watch {
    /// The guardian's end, inherited as descriptor `fd`. Refused unless it is a pipe (a stray
    /// number must not make the guardian read someone else's file).
    pub fn from_fd(fd: RawFd) -> io::Result<Self> {
        // SAFETY: fstat into a zeroed struct we own; a bad descriptor returns an error.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("descriptor {fd} is not the lifeline pipe"),
            ));
        }
        // SAFETY: the descriptor was inherited for us and nothing else in this process owns it.
        let read = unsafe { OwnedFd::from_raw_fd(fd) };
        // Not passed on to the `tc` / `nft` the guardian runs.
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        Ok(Watch { read: Some(read) })
    }

    /// No lifeline (a guardian started without one): [`Self::wait`] only sleeps.
    pub fn none() -> Self {
        Watch { read: None }
    }

    /// Waits up to `timeout` for news from `inject`.
    pub fn wait(&mut self, timeout: Duration) -> Heard {
        let Some(fd) = self.read.as_ref().map(AsRawFd::as_raw_fd) else {
            std::thread::sleep(timeout);
            return Heard::Quiet;
        };
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: poll on one pollfd we own.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n <= 0 {
            // Timeout, or EINTR: nothing heard.
            return Heard::Quiet;
        }
        let mut b = [0u8; 1];
        // SAFETY: read(2) of at most one byte into a buffer we own.
        let got = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        match got {
            1 if b[0] == DETACH => {
                self.read = None;
                Heard::Detached
            }
            // Any other byte means nothing; keep watching.
            1 => Heard::Quiet,
            0 => {
                self.read = None;
                Heard::Gone
            }
            _ => match io::Error::last_os_error().kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => Heard::Quiet,
                // A lifeline that cannot be read cannot vouch for `inject`: treat it as gone.
                _ => {
                    self.read = None;
                    Heard::Gone
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch_of(read: OwnedFd) -> Watch {
        Watch { read: Some(read) }
    }

    #[test]
    fn end_of_file_is_gone_and_the_detach_byte_is_detached() {
        let (line, read) = pair().unwrap();
        let mut w = watch_of(read);
        assert_eq!(w.wait(Duration::from_millis(10)), Heard::Quiet);
        drop(line);
        assert_eq!(w.wait(Duration::from_millis(1000)), Heard::Gone);
        assert!(w.read.is_none());

        let (line, read) = pair().unwrap();
        let mut w = watch_of(read);
        line.detach().unwrap();
        assert_eq!(w.wait(Duration::from_millis(1000)), Heard::Detached);
        assert!(w.read.is_none());
        // Nothing more to hear once detached.
        assert_eq!(w.wait(Duration::from_millis(1)), Heard::Quiet);
    }

    #[test]
    fn a_descriptor_that_is_not_a_pipe_is_refused() {
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        let e = Watch::from_fd(f.as_raw_fd()).unwrap_err();
        assert!(e.to_string().contains("not the lifeline pipe"), "{e}");
    }
}
