//! An external service program: started as `sh -c 'exec PROGRAM'` in the home folder, spoken to
//! with the line protocol (protocol.rs), one request at a time, and watched: a program that
//! exits, breaks the protocol or does not answer within its timeout is logged with its exit
//! status and the last lines of its stderr, killed if need be, and started again after a delay
//! that doubles up to a minute (so a crash loop does not spin).
//!
//! Three threads per running program, none of which can block the node: one writes requests to
//! its stdin (a program that stops reading cannot stall a caller), one reads its stdout (answers
//! go to the caller waiting for them, events to the agent), one logs its stderr.

use super::protocol::{self, MAX_LINE_BYTES, ProgramLine, Reply};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where an event line goes: (event key, data).
pub type OnEvent = Arc<dyn Fn(String, Value) + Send + Sync>;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// stderr lines kept to explain an exit.
const STDERR_TAIL: usize = 5;
const MAX_STDERR_LINE: usize = 300;
/// How long a program whose stdout closed may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_millis(500);

#[derive(Clone, Debug)]
pub struct ProgramSpec {
    /// How logs name it (the runner and service).
    pub label: String,
    /// The command line, as `[[runner]] program` gives it.
    pub command: String,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
    /// How long one request may wait for its answer.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("cannot start `{command}`: {problem}")]
    Spawn { command: String, problem: String },
    #[error("the program is not running ({0}); it is started again shortly")]
    NotRunning(String),
    #[error("the program exited ({status}){stderr}")]
    Exited { status: String, stderr: String },
    #[error("the program did not answer within {0:?}: killed")]
    Timeout(Duration),
    #[error("the program broke the line protocol: {0}; killed")]
    Protocol(String),
}

impl ProgramError {
    /// A stable name for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ProgramError::Spawn { .. } => "spawn",
            ProgramError::NotRunning(_) => "not_running",
            ProgramError::Exited { .. } => "crash",
            ProgramError::Timeout(_) => "timeout",
            ProgramError::Protocol(_) => "protocol",
        }
    }
}

pub struct Program {
    spec: ProgramSpec,
    on_event: OnEvent,
    /// Held for a whole request: requests are answered one at a time, in order.
    state: Mutex<State>,
}

struct State {
    running: Option<Running>,
    next_id: u64,
    backoff: Duration,
    not_before: Option<Instant>,
    last_exit: String,
}

struct Running {
    child: Child,
    requests: mpsc::Sender<String>,
    incoming: mpsc::Receiver<Incoming>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// Closed when stderr ends, so an exit's last words are read before they are reported.
    stderr_done: mpsc::Receiver<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Ours to end: a program outliving its runner would answer nobody.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a program is being stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Its output closed or it exited: it may need a moment to finish.
    Exiting,
    /// Hung or misbehaving: killed at once.
    Kill,
}

enum Incoming {
    Answer(u64, Reply),
    Broken(String),
    Closed,
}

impl Program {
    pub fn new(spec: ProgramSpec, on_event: OnEvent) -> Program {
        Program {
            spec,
            on_event,
            state: Mutex::new(State {
                running: None,
                next_id: 1,
                backoff: FIRST_BACKOFF,
                not_before: None,
                last_exit: "not started yet".into(),
            }),
        }
    }

    /// Starts the program if it is not running and its restart delay has passed, and notices
    /// an exit while idle. Never waits for a request in progress.
    pub fn keep_alive(&self) {
        let Some(mut state) = self.state.try_lock() else {
            return;
        };
        if let Some(running) = state.running.as_mut() {
            let exited = matches!(running.child.try_wait(), Ok(Some(_)));
            if exited {
                let error = self.stop(&mut state, "while idle", Ending::Exiting);
                tracing::error!(program = %self.spec.label, "{error}");
            }
            return;
        }
        if state.not_before.is_some_and(|t| Instant::now() < t) {
            return;
        }
        if let Err(e) = self.start(&mut state) {
            tracing::error!(program = %self.spec.label, "{e}");
        }
    }

    #[cfg(test)]
    pub fn is_running(&self) -> bool {
        self.state.lock().running.is_some()
    }

    /// Runs `task` on `inputs` and waits for the answer, at most the spec's timeout.
    pub fn call(&self, task: &str, inputs: &Value) -> Result<Reply, ProgramError> {
        let mut state = self.state.lock();
        if state.running.is_none() {
            if state.not_before.is_some_and(|t| Instant::now() < t) {
                return Err(ProgramError::NotRunning(state.last_exit.clone()));
            }
            self.start(&mut state)?;
        }
        let id = state.next_id;
        state.next_id += 1;
        let mut ended = false;
        if let Some(running) = state.running.as_mut() {
            // Answers to earlier requests that timed out are stale; an end noticed since counts.
            while let Ok(stale) = running.incoming.try_recv() {
                if matches!(stale, Incoming::Closed | Incoming::Broken(_)) {
                    ended = true;
                }
            }
            let line = protocol::request_line(id, task, inputs);
            ended = ended || running.requests.send(line).is_err();
        }
        if ended {
            return Err(self.stop(&mut state, "before answering", Ending::Exiting));
        }
        let timeout = self.spec.timeout;
        let started = Instant::now();
        loop {
            let Some(running) = state.running.as_mut() else {
                return Err(ProgramError::NotRunning(state.last_exit.clone()));
            };
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                self.stop(&mut state, "after a timeout", Ending::Kill);
                return Err(ProgramError::Timeout(timeout));
            }
            match running
                .incoming
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(Incoming::Answer(got, reply)) if got == id => {
                    state.backoff = FIRST_BACKOFF;
                    return Ok(reply);
                }
                // An answer to an earlier request that timed out: too late to matter.
                Ok(Incoming::Answer(..)) => {}
                Ok(Incoming::Broken(problem)) => {
                    self.stop(&mut state, "after breaking the protocol", Ending::Kill);
                    return Err(ProgramError::Protocol(problem));
                }
                Ok(Incoming::Closed) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(self.stop(&mut state, "while running a task", Ending::Exiting));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // stdout may stay open in a child of the program: watch the process itself.
                    if matches!(running.child.try_wait(), Ok(Some(_))) {
                        return Err(self.stop(&mut state, "while running a task", Ending::Exiting));
                    }
                }
            }
        }
    }

    fn start(&self, state: &mut State) -> Result<(), ProgramError> {
        let spawn_error = |problem: String| ProgramError::Spawn {
            command: self.spec.command.clone(),
            problem,
        };
        let mut child = shell_command(&self.spec.command)
            .current_dir(&self.spec.dir)
            .envs(self.spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                state.not_before = Some(Instant::now() + state.backoff);
                state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
                state.last_exit = format!("could not start: {e}");
                spawn_error(e.to_string())
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_error("no pipes to the program".into()));
        };
        let (requests, to_write) = mpsc::channel::<String>();
        let (incoming_tx, incoming) = mpsc::channel();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (stderr_closed, stderr_done) = mpsc::channel::<()>();
        let label = self.spec.label.clone();
        let spawned = std::thread::Builder::new()
            .name("program-in".into())
            .spawn(move || write_requests(stdin, to_write))
            .and_then(|_| {
                let on_event = self.on_event.clone();
                let label = label.clone();
                std::thread::Builder::new()
                    .name("program-out".into())
                    .spawn(move || read_stdout(stdout, incoming_tx, on_event, &label))
            })
            .and_then(|_| {
                let tail = tail.clone();
                std::thread::Builder::new()
                    .name("program-err".into())
                    .spawn(move || {
                        read_stderr(stderr, tail, &label);
                        drop(stderr_closed);
                    })
            });
        if let Err(e) = spawned {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_error(format!("cannot start its threads: {e}")));
        }
        tracing::info!(
            program = %self.spec.label,
            command = %self.spec.command,
            pid = child.id(),
            "service program started"
        );
        state.running = Some(Running {
            child,
            requests,
            incoming,
            stderr: tail,
            stderr_done,
        });
        Ok(())
    }

    /// Ends the running program (killing it if it still runs), logs why with its exit status
    /// and last stderr lines, and schedules the restart.
    fn stop(&self, state: &mut State, when: &str, ending: Ending) -> ProgramError {
        let Some(mut running) = state.running.take() else {
            return ProgramError::NotRunning(state.last_exit.clone());
        };
        // A program whose stdout just closed is usually exiting: give it a moment to say how.
        let mut waited = Duration::ZERO;
        let mut exited = running.child.try_wait();
        while matches!(exited, Ok(None)) && waited < EXIT_GRACE && ending == Ending::Exiting {
            std::thread::sleep(Duration::from_millis(10));
            waited += Duration::from_millis(10);
            exited = running.child.try_wait();
        }
        let status = match exited {
            Ok(Some(status)) => status.to_string(),
            _ => {
                let _ = running.child.kill();
                match running.child.wait() {
                    Ok(_) => "killed by the node".to_string(),
                    Err(e) => format!("cannot reap it: {e}"),
                }
            }
        };
        // A moment for the last stderr lines (a child of the program may hold the pipe open).
        let _ = running.stderr_done.recv_timeout(Duration::from_millis(500));
        let tail: Vec<String> = running.stderr.lock().iter().cloned().collect();
        let stderr = if tail.is_empty() {
            String::new()
        } else {
            format!("; its last stderr lines: {}", tail.join(" | "))
        };
        let delay = state.backoff;
        state.not_before = Some(Instant::now() + delay);
        state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
        state.last_exit = format!("{status} {when}");
        tracing::error!(
            program = %self.spec.label,
            command = %self.spec.command,
            "service program stopped {when} ({status}){stderr}; starting it again in {delay:?}"
        );
        ProgramError::Exited {
            status: format!("{status} {when}"),
            stderr,
        }
    }
}

/// `sh -c 'exec PROGRAM'`: the shell handles quoting, and `exec` makes the program the child the
/// node watches and kills.
fn shell_command(program: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!("exec {program}"));
    command
}

fn write_requests(mut stdin: std::process::ChildStdin, lines: mpsc::Receiver<String>) {
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if stdin.write_all(line.as_bytes()).is_err() || stdin.flush().is_err() {
            return;
        }
    }
}

fn read_stdout(
    stdout: std::process::ChildStdout,
    incoming: mpsc::Sender<Incoming>,
    on_event: OnEvent,
    label: &str,
) {
    let mut reader = BufReader::new(stdout);
    loop {
        let line = match read_line(&mut reader) {
            Ok(Some(line)) => line,
            Ok(None) => {
                let _ = incoming.send(Incoming::Closed);
                return;
            }
            Err(problem) => {
                let _ = incoming.send(Incoming::Broken(problem));
                return;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match protocol::parse_line(&line) {
            Ok(ProgramLine::Answer { id, reply }) => {
                if incoming.send(Incoming::Answer(id, reply)).is_err() {
                    return;
                }
            }
            Ok(ProgramLine::Event { event, data }) => on_event(event, data),
            Err(e) => tracing::warn!(program = %label, "ignored a line the program printed: {e}"),
        }
    }
}

fn read_stderr(stderr: std::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>, label: &str) {
    let mut reader = BufReader::new(stderr);
    while let Ok(Some(line)) = read_line(&mut reader) {
        let line: String = line.trim_end().chars().take(MAX_STDERR_LINE).collect();
        tracing::info!(program = %label, "program: {line}");
        let mut tail = tail.lock();
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// One line of at most [`MAX_LINE_BYTES`] (newline excluded); `None` at the end of the stream.
pub fn read_line(reader: &mut impl BufRead) -> Result<Option<String>, String> {
    let mut buf = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', &mut buf)
        .map_err(|e| format!("reading its output: {e}"))?;
    if read == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    if buf.len() > MAX_LINE_BYTES {
        return Err(format!("a line longer than {MAX_LINE_BYTES} bytes"));
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| "a line that is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn program(script: &str, timeout_ms: u64) -> (Program, mpsc::Receiver<(String, Value)>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("svc.sh"), script).unwrap();
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let on_event: OnEvent = Arc::new(move |event, data| {
            let _ = tx.lock().send((event, data));
        });
        let spec = ProgramSpec {
            label: "test".into(),
            command: "sh svc.sh".into(),
            dir: dir.keep(),
            env: vec![("GREETING".into(), "hi".into())],
            timeout: Duration::from_millis(timeout_ms),
        };
        (Program::new(spec, on_event), rx)
    }

    /// Doubles `x`, line after line, and reports one event first.
    const DOUBLER: &str = r#"
echo "{\"event\": \"ready\", \"data\": {\"greeting\": \"$GREETING\"}}"
echo "not json at all"
while read -r line; do
  id=$(echo "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
  x=$(echo "$line" | sed 's/.*"x":\(-*[0-9]*\).*/\1/')
  if [ "$x" = "13" ]; then
    echo "{\"id\":$id,\"error\":\"unlucky\"}"
  else
    echo "{\"id\":$id,\"outputs\":{\"y\":$((x * 2))}}"
  fi
done
"#;

    #[test]
    fn a_program_answers_requests_in_turn_and_reports_events() {
        let (p, events) = program(DOUBLER, 10_000);
        assert_eq!(
            p.call("double", &json!({"x": 21})).unwrap(),
            Reply::Outputs(json!({"y": 42}))
        );
        assert_eq!(
            p.call("double", &json!({"x": 13})).unwrap(),
            Reply::Error("unlucky".into())
        );
        assert_eq!(
            p.call("double", &json!({"x": -4})).unwrap(),
            Reply::Outputs(json!({"y": -8}))
        );
        let (event, data) = events.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!((event.as_str(), data), ("ready", json!({"greeting": "hi"})));
        assert!(p.is_running());
    }

    #[test]
    fn a_crashing_program_is_an_error_and_is_not_restarted_at_once() {
        let (p, _) = program("read -r line\necho 'giving up' >&2\nexit 3\n", 10_000);
        let err = p.call("double", &json!({"x": 1})).unwrap_err();
        assert_eq!(err.reason(), "crash", "{err}");
        let text = err.to_string();
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.contains("giving up"), "{text}");
        assert!(!p.is_running());
        // Within the restart delay a call is refused at once, saying why.
        let again = p.call("double", &json!({"x": 1})).unwrap_err();
        assert_eq!(again.reason(), "not_running", "{again}");
        assert!(again.to_string().contains("exit status: 3"), "{again}");
    }

    #[test]
    fn a_hanging_program_is_killed_after_its_timeout() {
        let (p, _) = program("read -r line\nexec sleep 600\n", 300);
        let err = p.call("double", &json!({"x": 1})).unwrap_err();
        assert_eq!(err.reason(), "timeout", "{err}");
        assert!(!p.is_running());
    }

    #[test]
    fn a_missing_program_says_so() {
        let (p, _) = program("", 10_000);
        let spec = ProgramSpec {
            command: "/nonexistent/service --flag".into(),
            ..p.spec.clone()
        };
        let p = Program::new(spec, Arc::new(|_, _| {}));
        let err = p.call("x", &json!({})).unwrap_err();
        assert_eq!(err.reason(), "crash", "{err}");
        assert!(err.to_string().contains("/nonexistent/service"), "{err}");
    }

    #[test]
    fn lines_are_bounded() {
        let mut long = vec![b'a'; MAX_LINE_BYTES + 10];
        long.push(b'\n');
        let mut reader = BufReader::new(&long[..]);
        assert!(read_line(&mut reader).unwrap_err().contains("longer than"));
        let mut reader = BufReader::new(&b"one\ntwo"[..]);
        assert_eq!(read_line(&mut reader).unwrap().as_deref(), Some("one"));
        assert_eq!(read_line(&mut reader).unwrap().as_deref(), Some("two"));
        assert_eq!(read_line(&mut reader).unwrap(), None);
        let mut reader = BufReader::new(&[0xff, 0xfe, b'\n'][..]);
        assert!(read_line(&mut reader).unwrap_err().contains("UTF-8"));
    }
}
