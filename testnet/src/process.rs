//! Child processes that never outlive the launcher.
//!
//! Every node and load generator runs in its own process group (a Ctrl-C at the terminal
//! reaches only the launcher, which then stops them in order), is killed when its handle is
//! dropped (also while a panic unwinds), and on Linux receives SIGKILL if the launching thread
//! dies without unwinding.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) child process; dropping it kills it.
pub struct Guarded {
    child: Option<Child>,
    paused: bool,
}

/// Sets what every child of ours needs before it runs.
pub fn prepare(command: &mut Command) {
    command.stdin(Stdio::null()).process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only makes the prctl
    // system call, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            #[cfg(target_os = "linux")]
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            Ok(())
        });
    }
}

impl Guarded {
    pub fn spawn(mut command: Command) -> std::io::Result<Guarded> {
        prepare(&mut command);
        Guarded::from_command(command)
    }

    /// Spawns a command already [`prepare`]d (and perhaps adjusted since).
    pub fn from_command(mut command: Command) -> std::io::Result<Guarded> {
        Ok(Guarded {
            child: Some(command.spawn()?),
            paused: false,
        })
    }

    /// SIGTERM: asks it to finish.
    pub fn terminate(&self) -> std::io::Result<()> {
        self.signal(Signal::SIGTERM)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGUSR1 (a `[byzantine]` node starts its attacks).
    pub fn signal_usr1(&self) -> std::io::Result<()> {
        self.signal(Signal::SIGUSR1)
    }

    fn signal(&self, signal: Signal) -> std::io::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| std::io::Error::other("the process has already been stopped"))?;
        let pid = i32::try_from(pid).map_err(std::io::Error::other)?;
        kill(Pid::from_raw(pid), signal).map_err(std::io::Error::from)
    }

    /// SIGSTOP: frozen with its sockets open.
    pub fn pause(&mut self) -> std::io::Result<()> {
        self.signal(Signal::SIGSTOP)?;
        self.paused = true;
        Ok(())
    }

    pub fn resume(&mut self) -> std::io::Result<()> {
        self.signal(Signal::SIGCONT)?;
        self.paused = false;
        Ok(())
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Still running (or paused)?
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// SIGKILL and reap: a crash at an arbitrary instant.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if self.child.is_none() {
            return;
        }
        if self.paused {
            let _ = self.resume();
        }
        let _ = self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.is_alive() {
                self.child = None;
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }

    /// Takes the child for reading its output; the caller then owns its end.
    pub fn child_mut(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One node of the network: its home and its process, which can be killed and started again.
pub struct NodeProcess {
    pub index: usize,
    pub home: PathBuf,
    binary: PathBuf,
    process: Option<Guarded>,
}

impl NodeProcess {
    pub fn new(index: usize, binary: &Path, home: &Path) -> NodeProcess {
        NodeProcess {
            index,
            home: home.to_path_buf(),
            binary: binary.to_path_buf(),
            process: None,
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.home.join("node.log")
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Guarded::pid)
    }

    /// SIGUSR1 to the running process.
    pub fn signal_usr1(&self) -> std::io::Result<()> {
        match &self.process {
            Some(p) => p.signal_usr1(),
            None => Err(std::io::Error::other("node is not running")),
        }
    }

    /// `runnet start --home HOME`, stderr appended to HOME/node.log.
    pub fn start(&mut self) -> std::io::Result<()> {
        if self.process.is_some() {
            return Ok(());
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut command = Command::new(&self.binary);
        command
            .arg("start")
            .arg("--home")
            .arg(&self.home)
            .stdout(Stdio::null())
            .stderr(log);
        self.process = Some(Guarded::spawn(command)?);
        Ok(())
    }

    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    pub fn stop(&mut self, grace: Duration) {
        if let Some(mut p) = self.process.take() {
            p.stop(grace);
        }
    }

    pub fn pause(&mut self) -> std::io::Result<()> {
        match self.process.as_mut() {
            Some(p) => p.pause(),
            None => Err(std::io::Error::other("not running")),
        }
    }

    pub fn resume(&mut self) -> std::io::Result<()> {
        match self.process.as_mut() {
            Some(p) => p.resume(),
            None => Err(std::io::Error::other("not running")),
        }
    }

    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    pub fn is_paused(&self) -> bool {
        self.process.as_ref().is_some_and(Guarded::is_paused)
    }

    /// Started but exited on its own (a crash or a refused start)?
    pub fn has_exited(&mut self) -> bool {
        self.process.as_mut().is_some_and(|p| !p.is_alive())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper() -> Command {
        let mut c = Command::new("sleep");
        c.arg("60");
        c
    }

    fn exists(pid: u32) -> bool {
        // Zombies are reaped by kill(); a reaped pid no longer answers signal 0.
        kill(Pid::from_raw(pid as i32), None).is_ok()
    }

    #[test]
    fn dropping_kills_and_reaps() {
        let g = Guarded::spawn(sleeper()).unwrap();
        let pid = g.pid().unwrap();
        assert!(exists(pid));
        drop(g);
        assert!(!exists(pid));
    }

    #[test]
    fn a_panic_does_not_leave_the_child_behind() {
        let pid = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let seen = pid.clone();
        let result = std::thread::spawn(move || {
            let g = Guarded::spawn(sleeper()).unwrap();
            seen.store(g.pid().unwrap(), std::sync::atomic::Ordering::SeqCst);
            panic!("boom");
        })
        .join();
        assert!(result.is_err());
        let pid = pid.load(std::sync::atomic::Ordering::SeqCst);
        assert!(pid > 0 && !exists(pid));
    }

    #[test]
    fn pause_resume_and_stop() {
        let mut g = Guarded::spawn(sleeper()).unwrap();
        g.pause().unwrap();
        assert!(g.is_paused() && g.is_alive());
        g.resume().unwrap();
        assert!(!g.is_paused());
        let pid = g.pid().unwrap();
        g.stop(Duration::from_secs(5));
        assert!(!exists(pid));
        assert!(g.pause().is_err());
    }
}
