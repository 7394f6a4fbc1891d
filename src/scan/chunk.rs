//! Cutting a byte stream into chunks of whole lines, so that chunks can be scanned apart.

use std::io::{self, Read};

/// The longest record a scan reads; a longer line is reported as malformed and skipped.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// How much of an overlong line is kept to show in the rejects.
const OVERLONG_HEAD: usize = 256;

/// What the next stretch of input is.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Whole lines (the last one without its line end only at the end of the input).
    Lines,
    /// One line longer than [`MAX_LINE`]: the buffer holds its first bytes only.
    Overlong {
        /// The line's length in bytes, without its LF.
        len: u64,
    },
}

/// Reads a stream in chunks of about `chunk_size` bytes that end at a line end.
pub(crate) struct ChunkReader<R> {
    input: R,
    chunk_size: usize,
    /// The start of a line that the last chunk cut off.
    carry: Vec<u8>,
    eof: bool,
    bytes: u64,
}

impl<R: Read> ChunkReader<R> {
    pub(crate) fn new(input: R, chunk_size: usize) -> ChunkReader<R> {
        ChunkReader {
            input,
            chunk_size: chunk_size.max(1),
            carry: Vec::new(),
            eof: false,
            bytes: 0,
        }
    }

    /// Bytes read from the input so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Fills `buf` (cleared first) with the next piece, or returns `None` at the end.
    pub(crate) fn next_piece(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Piece>> {
        buf.clear();
        buf.append(&mut self.carry);
        // Bytes at the start of `buf` known to hold no line end, so never searched twice.
        let mut searched = 0;
        loop {
            if buf.len() >= self.chunk_size || self.eof {
                match memchr::memrchr(b'\n', &buf[searched..]).map(|p| searched + p) {
                    // At the end of the input, a last line without a line end belongs too.
                    _ if self.eof && buf.len() <= MAX_LINE => {
                        return Ok((!buf.is_empty()).then_some(Piece::Lines));
                    }
                    Some(p) => {
                        self.carry.extend_from_slice(&buf[p + 1..]);
                        buf.truncate(p + 1);
                        return Ok(Some(Piece::Lines));
                    }
                    // No line end anywhere: the buffer is the start of one line.
                    None if buf.len() > MAX_LINE => return self.skip_overlong(buf).map(Some),
                    None => searched = buf.len(),
                }
            }
            self.fill(buf)?;
        }
    }

    /// Reads up to a chunk's worth more into `buf`; sets `eof` when the input ends.
    fn fill(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let start = buf.len();
        buf.resize(start + self.chunk_size, 0);
        let mut filled = start;
        while filled < buf.len() {
            match self.input.read(&mut buf[filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    buf.truncate(filled);
                    return Err(e);
                }
            }
        }
        buf.truncate(filled);
        self.bytes += (filled - start) as u64;
        Ok(())
    }

    /// Consumes a line longer than [`MAX_LINE`] up to its line end, leaving its first
    /// bytes in `buf`.
    fn skip_overlong(&mut self, buf: &mut Vec<u8>) -> io::Result<Piece> {
        let mut len = buf.len() as u64;
        buf.truncate(OVERLONG_HEAD);
        let mut scratch = Vec::with_capacity(self.chunk_size);
        loop {
            if self.eof {
                return Ok(Piece::Overlong { len });
            }
            scratch.clear();
            self.fill(&mut scratch)?;
            if let Some(p) = memchr::memchr(b'\n', &scratch) {
                len += p as u64;
                self.carry.extend_from_slice(&scratch[p + 1..]);
                return Ok(Piece::Overlong { len });
            }
            len += scratch.len() as u64;
        }
    }
}
