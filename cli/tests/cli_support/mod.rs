//! What the command-line tests share: running the binary, reading its output, and
//! formatting counts as it prints them.
#![allow(dead_code)] // Each test file uses its own part.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `imei-index` with arguments and, optionally, bytes on standard input.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imei-index"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.unwrap_or_default().to_vec();
    // Feed standard input from another thread: the child writes while it reads, and both
    // pipes have bounded buffers.
    let feeder = std::thread::spawn(move || {
        // The child may stop reading early (an error); that is its answer, not ours.
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("the binary finishes");
    feeder.join().expect("the feeder finishes");
    out
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A count as the CLI prints it: 28200 → "28,200".
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
