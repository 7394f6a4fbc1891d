//! Reading the index's transducers without ever panicking: one key, the first key at or
//! after a key, many keys walked together with prefetching, every key in order, and the
//! structural check that full verification runs.
//!
//! The maps are written by the `fst` crate, and `fst::Map` would answer the same. It is
//! not used on the read side, for three reasons. First, `fst` indexes its bytes with
//! slices, so a transducer that passes the checksums yet was crafted to be wrong makes it
//! panic (in lookups, streams and even `Map::new`); here every read is checked and
//! malformed bytes read as "no such key". Second, full verification must accept exactly
//! what checks read: it walks the transducers with this decoder, so a node that `fst`
//! would read one way and checks another (a transition index that disagrees with the
//! inputs, inputs out of order) cannot pass it. Third, a check is dominated by cache
//! misses, one per level of the transducer: walking many keys at once, one step of each
//! in turn, and prefetching each next node lets the misses of different keys overlap (see
//! [`Transducer::get_many`]).
//!
//! The node format decoded here is `fst` 0.4's (format versions 1 to 3): each node ends at
//! its address with a state byte, and its transitions lie in the bytes below it. The
//! footer (last 16 bytes, then a 4-byte checksum from version 3) holds the number of keys
//! and the root's address.

use std::collections::HashMap;

use bytes::Bytes;

/// fst's address of the empty final node, which has no bytes.
const EMPTY_ADDRESS: usize = 0;
/// Nodes with more transitions than this carry a 256-byte input index (fst format ≥ 2).
const TRANS_INDEX_THRESHOLD: usize = 32;
/// Keys walked together by [`Transducer::get_many`]: enough to keep the memory system busy
/// (a core tracks 10–20 outstanding misses), few enough that the lanes stay in registers
/// and L1.
const LANES: usize = 32;
// Lanes are bits of a u64.
const _: () = assert!(LANES <= 64);
/// The longest key of any map of the index (a pair key).
pub(crate) const MAX_KEY: usize = 16;

/// A transducer of the index with what lookups need decoded once.
#[derive(Clone)]
pub(crate) struct Transducer {
    data: Bytes,
    root: usize,
    indexed: bool,
    /// The number of keys the footer declares.
    declared: u64,
}

impl Transducer {
    /// Reads a transducer's footer, refusing bytes that cannot be one: what `fst::Map::new`
    /// checks (length, version, where the root is), without its panics.
    pub(crate) fn parse(data: Bytes) -> Result<Transducer, String> {
        let n = data.len();
        if n < 36 {
            return Err(format!(
                "it is {n} bytes, fewer than the 36 of an empty transducer"
            ));
        }
        let version = read_le(&data, 0, 8).unwrap_or(0);
        if !(1..=3).contains(&version) {
            return Err(format!(
                "its transducer format version is {version}, not 1 to 3"
            ));
        }
        let (end, empty_total, addr_offset) = if version <= 2 {
            (n, 32, 17)
        } else {
            (n - 4, 36, 21)
        };
        let root = read_le(&data, end - 8, 8).unwrap_or(u64::MAX);
        let declared = read_le(&data, end - 16, 8).unwrap_or(u64::MAX);
        // The root is the last node written, just before the footer; an empty map is the
        // footer alone.
        let root_fits = match usize::try_from(root) {
            Ok(EMPTY_ADDRESS) => n == empty_total,
            Ok(r) => r.checked_add(addr_offset) == Some(n),
            Err(_) => false,
        };
        if !root_fits {
            return Err(format!(
                "its root address {root} is not where the last node of a {n}-byte \
                 transducer ends"
            ));
        }
        Ok(Transducer {
            indexed: version >= 2,
            root: root as usize,
            declared,
            data,
        })
    }

    /// True when the map holds no key (as its footer says; full verification checks it).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.declared == 0
    }

    #[inline]
    fn data(&self) -> &[u8] {
        &self.data
    }

    #[inline]
    fn node(&self, addr: usize) -> Option<Node> {
        Node::decode(self.data(), addr, self.indexed)
    }

    /// The value of a key, as `fst::Map::get` would return it.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<u64> {
        let data = self.data();
        let mut addr = self.root;
        let mut out = 0u64;
        for &b in key {
            let (o, next) = step(data, addr, b, self.indexed)?;
            out = out.wrapping_add(o);
            addr = next;
        }
        Some(out.wrapping_add(final_output(data, addr, self.indexed)?))
    }

    /// The value of the first key at or after `key`, in a map whose keys all have the
    /// length of `key` (so that final states lie at that depth only).
    pub(crate) fn first_at_or_after(&self, key: &[u8]) -> Option<u64> {
        // Where the walk went down: node address, output before it, transition taken.
        let mut path: [(usize, u64, usize); 16] = [(0, 0, 0); 16];
        let depth = key.len().min(path.len());
        let data = self.data();
        let (mut addr, mut out) = (self.root, 0u64);
        let mut d = 0;
        // Follow the key as far as it goes.
        while d < depth {
            let node = self.node(addr)?;
            let b = key[d];
            let Some(i) = node.first_input_at_least(data, b) else {
                return self.next_after(&path[..d]);
            };
            let (o, next) = node.transition(data, i)?;
            if node.input(data, i)? != b {
                // The first greater input: its smallest key is the answer.
                return self.smallest_from(next, out.wrapping_add(o));
            }
            path[d] = (addr, out, i);
            out = out.wrapping_add(o);
            addr = next;
            d += 1;
        }
        match self.node(addr)?.final_output() {
            Some(fin) => Some(out.wrapping_add(fin)),
            None => self.next_after(&path[..d]),
        }
    }

    /// Backtracks up `path` to the first node with a transition after the one taken, and
    /// returns the smallest key's value below it.
    fn next_after(&self, path: &[(usize, u64, usize)]) -> Option<u64> {
        let data = self.data();
        for &(addr, out, i) in path.iter().rev() {
            let node = self.node(addr)?;
            if i + 1 < node.len() {
                let (o, next) = node.transition(data, i + 1)?;
                return self.smallest_from(next, out.wrapping_add(o));
            }
        }
        None
    }

    /// The value of the smallest key in the sub-transducer at `addr`.
    fn smallest_from(&self, mut addr: usize, mut out: u64) -> Option<u64> {
        let data = self.data();
        // A valid transducer is acyclic and its keys are short; a crafted one may loop.
        for _ in 0..=64 {
            let node = self.node(addr)?;
            if let Some(fin) = node.final_output() {
                return Some(out.wrapping_add(fin));
            }
            let (o, next) = node.transition(data, 0)?;
            out = out.wrapping_add(o);
            addr = next;
        }
        None
    }

    /// Looks up many keys of one length, calling `found(i, value)` for each key `i` that
    /// the map holds; keys it does not hold are not reported. Equivalent to calling
    /// [`Transducer::get`] on each.
    ///
    /// Keys go in groups of [`LANES`] that walk in lockstep: each round advances every
    /// key still in the map by one level and prefetches the node it goes to next, which is
    /// read a round later, after the other keys' steps. So the cache misses of a group
    /// overlap instead of following one another.
    pub(crate) fn get_many<const N: usize>(
        &self,
        keys: impl IntoIterator<Item = (usize, [u8; N])>,
        mut found: impl FnMut(usize, u64),
    ) {
        let data = self.data();
        let mut keys = keys.into_iter().peekable();
        let mut ids = [0usize; LANES];
        // Byte d of lane l's key at [d][l]: one level's bytes together.
        let mut levels = [[0u8; LANES]; N];
        while keys.peek().is_some() {
            let mut n = 0;
            for (l, (id, key)) in keys.by_ref().take(LANES).enumerate() {
                ids[l] = id;
                for (level, &b) in levels.iter_mut().zip(&key) {
                    level[l] = b;
                }
                n += 1;
            }
            let mut addr = [self.root; LANES];
            let mut out = [0u64; LANES];
            // Bit l: lane l is still in the map.
            let mut alive: u64 = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            for level in &levels {
                let mut lanes = alive;
                while lanes != 0 {
                    let l = lanes.trailing_zeros() as usize;
                    lanes &= lanes - 1;
                    match step(data, addr[l], level[l], self.indexed) {
                        Some((o, next)) => {
                            out[l] = out[l].wrapping_add(o);
                            addr[l] = next;
                            prefetch_node(data, next);
                        }
                        None => alive &= !(1u64 << l),
                    }
                }
            }
            while alive != 0 {
                let l = alive.trailing_zeros() as usize;
                alive &= alive - 1;
                if let Some(fin) = final_output(data, addr[l], self.indexed) {
                    found(ids[l], out[l].wrapping_add(fin));
                }
            }
        }
    }
}

impl Transducer {
    /// Every key of length `key_len` in key order, with its value, as lookups read them.
    ///
    /// Never panics and always ends, whatever the bytes: the walk goes no deeper than
    /// `key_len`, skips what does not decode (and keys of other lengths), and yields only
    /// keys greater than the one before, so that the stream is strictly increasing even
    /// when a crafted node lists its inputs out of order. On a transducer that passes
    /// [`Transducer::verify`] it yields exactly the keys that [`Transducer::get`] finds.
    /// A crafted transducer of a few nodes can still encode up to 256^`key_len` keys, so
    /// the walk stops after `budget` steps (nodes entered), and says so
    /// ([`Stream::exhausted`]).
    pub(crate) fn stream(&self, key_len: usize, budget: u64) -> Stream<'_> {
        let key_len = key_len.min(MAX_KEY);
        let mut stack = Vec::with_capacity(key_len + 1);
        if self.root != EMPTY_ADDRESS
            && let Some(node) = self.node(self.root)
        {
            stack.push(Frame {
                node,
                out: 0,
                next: 0,
            });
        }
        Stream {
            data: self.data(),
            indexed: self.indexed,
            key_len,
            stack,
            key: [0; MAX_KEY],
            last: None,
            budget,
            exhausted: false,
        }
    }

    /// Checks that the transducer is one that lookups and [`Transducer::stream`] read the
    /// same way, and that every key has `key_len` bytes; returns how many keys it holds.
    ///
    /// Every node reachable from the root must decode, list its inputs in strictly
    /// increasing order, carry a 256-byte transition index (when it has one) that names
    /// exactly its transitions, read the same through the lookup path ([`step`],
    /// [`final_output`]) as through the node decoder, and sit at one depth: final with no
    /// transitions at depth `key_len`, not final with some transitions above it. Then
    /// `get`, `get_many`, `first_at_or_after` and `stream` agree on one set of keys, in
    /// order, each once.
    ///
    /// Time and memory are linear in the section's bytes, whatever the number of keys:
    /// each node is checked once (keys are counted, not walked), and the nodes reached
    /// may together span at most the section's bytes, as a writer's nodes never overlap.
    /// So a crafted transducer of a few nodes that claims 2^48 keys is counted in
    /// microseconds, and refused or walked as its caller decides.
    pub(crate) fn verify(&self, key_len: usize) -> Result<u64, String> {
        let mut v = Verifier {
            t: self,
            seen: HashMap::new(),
            spanned: 0,
        };
        let root = self
            .node(self.root)
            .ok_or_else(|| format!("its root node at byte {} does not decode", self.root))?;
        let keys =
            if self.root == EMPTY_ADDRESS || (root.len() == 0 && root.final_output().is_none()) {
                // An empty map: the footer alone, or a root that leads nowhere (the empty key
                // is no key of the index).
                0
            } else {
                v.visit(self.root, key_len.min(MAX_KEY))?
            };
        if keys != self.declared {
            return Err(format!(
                "its footer says it holds {} keys, but its nodes hold {keys}",
                self.declared
            ));
        }
        Ok(keys)
    }
}

/// The walk of [`Transducer::verify`].
struct Verifier<'a> {
    t: &'a Transducer,
    /// Each node checked: its height (bytes of key below it) and its keys.
    seen: HashMap<usize, (usize, u64)>,
    /// Bytes spanned by the nodes checked so far.
    spanned: usize,
}

impl Verifier<'_> {
    /// Checks the node at `addr`, which ends keys `height` bytes below it, and everything
    /// below it; returns its keys (saturating).
    fn visit(&mut self, addr: usize, height: usize) -> Result<u64, String> {
        if let Some(&(h, keys)) = self.seen.get(&addr) {
            if h != height {
                return Err(format!(
                    "the node at byte {addr} is reached at two depths, so its keys would \
                     have two lengths"
                ));
            }
            return Ok(keys);
        }
        let data = self.t.data();
        let indexed = self.t.indexed;
        let node = Node::decode(data, addr, indexed)
            .ok_or_else(|| format!("the node at byte {addr} does not decode"))?;
        self.spanned = self.spanned.saturating_add(node.span(addr));
        if self.spanned > data.len() {
            return Err(format!(
                "its nodes overlap (the node at byte {addr} takes the bytes they span past \
                 the section's {}), which no writer does",
                data.len()
            ));
        }
        // The lookup path decodes the final state apart: it must read the same.
        if final_output(data, addr, indexed) != node.final_output() {
            return Err(format!(
                "the node at byte {addr} reads as final on one path and not on another"
            ));
        }
        let keys = if height == 0 {
            if node.final_output().is_none() || node.len() != 0 {
                return Err(format!(
                    "the node at byte {addr} continues keys past their length"
                ));
            }
            1
        } else {
            if node.final_output().is_some() {
                return Err(format!(
                    "the node at byte {addr} ends a key {height} bytes short of its length"
                ));
            }
            if node.len() == 0 {
                return Err(format!("the node at byte {addr} leads to no key"));
            }
            let mut keys = 0u64;
            let mut previous: Option<u8> = None;
            for i in 0..node.len() {
                let bad = || format!("transition {i} of the node at byte {addr} does not decode");
                let input = node.input(data, i).ok_or_else(bad)?;
                let (out, next) = node.transition(data, i).ok_or_else(bad)?;
                if previous.is_some_and(|p| p >= input) {
                    return Err(format!(
                        "the node at byte {addr} lists its inputs out of order"
                    ));
                }
                previous = Some(input);
                if step(data, addr, input, indexed) != Some((out, next)) {
                    return Err(format!(
                        "the node at byte {addr} leads input {input:#04x} elsewhere on the \
                         lookup path than in its transition list"
                    ));
                }
                keys = keys.saturating_add(self.visit(next, height - 1)?);
            }
            if let Node::Any(n) = node
                && n.indexed
            {
                // Lookups take the transition from the index: it must name each input's
                // transition, and none for the other bytes.
                let index = data
                    .get(n.inputs_end..n.inputs_end + 256)
                    .ok_or_else(|| format!("the node at byte {addr} has no room for its index"))?;
                let mut transition_of = [None; 256];
                for i in 0..n.ntrans {
                    if let Some(input) = node.input(data, i) {
                        transition_of[usize::from(input)] = Some(i);
                    }
                }
                for (b, (&at, want)) in index.iter().zip(transition_of).enumerate() {
                    let ok = match want {
                        Some(i) => usize::from(at) == i,
                        None => usize::from(at) >= n.ntrans,
                    };
                    if !ok {
                        return Err(format!(
                            "the transition index of the node at byte {addr} disagrees with \
                             its inputs at byte {b:#04x}"
                        ));
                    }
                }
            }
            keys
        };
        self.seen.insert(addr, (height, keys));
        Ok(keys)
    }
}

/// A node on the path of a [`Stream`]: its output so far and its next transition.
struct Frame {
    node: Node,
    out: u64,
    next: usize,
}

/// The keys of a transducer in order; see [`Transducer::stream`].
pub(crate) struct Stream<'a> {
    data: &'a [u8],
    indexed: bool,
    key_len: usize,
    /// The path from the root; `key[..stack.len() - 1]` spells it.
    stack: Vec<Frame>,
    key: [u8; MAX_KEY],
    /// The last key yielded.
    last: Option<[u8; MAX_KEY]>,
    /// Nodes the walk may still enter.
    budget: u64,
    exhausted: bool,
}

impl Stream<'_> {
    /// True when the walk stopped at its budget rather than at the last key.
    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// The next key and its value.
    #[allow(clippy::should_implement_trait)]
    pub(crate) fn next(&mut self) -> Option<(&[u8], u64)> {
        loop {
            let depth = self.stack.len().checked_sub(1)?;
            let top = self.stack.last_mut()?;
            if depth == self.key_len {
                let value = top.node.final_output().map(|f| top.out.wrapping_add(f));
                self.stack.pop();
                let key = &self.key[..depth];
                let greater = self.last.as_ref().is_none_or(|l| key > &l[..depth]);
                if let Some(v) = value
                    && greater
                {
                    self.last = Some(self.key);
                    let last = self.last.as_ref()?;
                    return Some((&last[..depth], v));
                }
                continue;
            }
            let i = top.next;
            if i >= top.node.len() {
                self.stack.pop();
                continue;
            }
            top.next += 1;
            let (Some(input), Some((o, next))) = (
                top.node.input(self.data, i),
                top.node.transition(self.data, i),
            ) else {
                continue;
            };
            // Below the keys yielded already: nothing new there.
            self.key[depth] = input;
            if let Some(l) = &self.last
                && self.key[..=depth] < l[..=depth]
            {
                continue;
            }
            let out = top.out.wrapping_add(o);
            if self.budget == 0 {
                self.exhausted = true;
                self.stack.clear();
                return None;
            }
            self.budget -= 1;
            if let Some(node) = Node::decode(self.data, next, self.indexed) {
                self.stack.push(Frame { node, out, next: 0 });
            }
        }
    }
}

/// The output and target of the transition on input `b` out of the node at `addr`, or
/// `None` when there is none (or the bytes are not a node).
///
/// The hot path of every check, so it decodes only what the step needs. Offsets are
/// computed with wrapping arithmetic and every read is checked: malformed bytes make a
/// wrapped offset, which reads as `None`, never a panic.
#[inline(always)]
fn step(data: &[u8], addr: usize, b: u8, indexed: bool) -> Option<(u64, usize)> {
    if addr == EMPTY_ADDRESS {
        return None;
    }
    let state = *data.get(addr)?;
    if state & 0b1000_0000 != 0 {
        // One transition: the input is a common byte in the state, or the byte below it.
        let (input, below) = match common_input(state & 0b11_1111) {
            Some(c) => (c, addr),
            None => (*data.get(addr.wrapping_sub(1))?, addr.wrapping_sub(1)),
        };
        if input != b {
            return None;
        }
        if state & 0b0100_0000 != 0 {
            // "Next": the target is the node written just before, output 0.
            return Some((0, below.wrapping_sub(1)));
        }
        let sizes_at = below.wrapping_sub(1);
        let sizes = *data.get(sizes_at)?;
        let (tsize, osize) = (usize::from(sizes >> 4), usize::from(sizes & 0x0f));
        let taddr = sizes_at.wrapping_sub(tsize);
        let delta = read_sized(data, taddr, tsize)?;
        let end = taddr.wrapping_sub(osize);
        let out = read_sized(data, end, osize)?;
        return Some((out, target(end, delta)));
    }
    let is_final = state & 0b0100_0000 != 0;
    let (ntrans, sizes_at) = match state & 0b11_1111 {
        0 => {
            let n = *data.get(addr.wrapping_sub(1))?;
            // One transition is always stored in the state byte, so 1 means 256.
            (
                if n == 1 { 256 } else { usize::from(n) },
                addr.wrapping_sub(2),
            )
        }
        n => (usize::from(n), addr.wrapping_sub(1)),
    };
    let sizes = *data.get(sizes_at)?;
    let (tsize, osize) = (usize::from(sizes >> 4), usize::from(sizes & 0x0f));
    let (i, inputs_end) = if indexed && ntrans > TRANS_INDEX_THRESHOLD {
        let index = sizes_at.wrapping_sub(256);
        let i = usize::from(*data.get(index.wrapping_add(usize::from(b)))?);
        if i >= ntrans {
            return None;
        }
        (i, index)
    } else {
        let inputs = data.get(sizes_at.wrapping_sub(ntrans)..sizes_at)?;
        let p = inputs.iter().position(|&x| x == b)?;
        (ntrans - p - 1, sizes_at)
    };
    let inputs_start = inputs_end.wrapping_sub(ntrans);
    let delta = read_sized(data, inputs_start.wrapping_sub((i + 1) * tsize), tsize)?;
    let outputs_end = inputs_start.wrapping_sub(ntrans * tsize);
    let out = read_sized(data, outputs_end.wrapping_sub((i + 1) * osize), osize)?;
    let end = outputs_end
        .wrapping_sub(ntrans * osize)
        .wrapping_sub(if is_final { osize } else { 0 });
    Some((out, target(end, delta)))
}

/// The output of the node at `addr` if it is final.
#[inline(always)]
fn final_output(data: &[u8], addr: usize, indexed: bool) -> Option<u64> {
    if addr == EMPTY_ADDRESS {
        return Some(0);
    }
    let state = *data.get(addr)?;
    if state & 0b1100_0000 != 0b0100_0000 {
        // One-transition nodes are never final, and the others only with the flag.
        return None;
    }
    let (ntrans, sizes_at) = match state & 0b11_1111 {
        0 => match *data.get(addr.wrapping_sub(1))? {
            1 => (256, addr.wrapping_sub(2)),
            n => (usize::from(n), addr.wrapping_sub(2)),
        },
        n => (usize::from(n), addr.wrapping_sub(1)),
    };
    let sizes = *data.get(sizes_at)?;
    let (tsize, osize) = (usize::from(sizes >> 4), usize::from(sizes & 0x0f));
    let index_len = if indexed && ntrans > TRANS_INDEX_THRESHOLD {
        256
    } else {
        0
    };
    // Below the state: index, inputs, addresses, outputs, and then the final output.
    let at = sizes_at
        .wrapping_sub(index_len + ntrans * (1 + tsize + osize))
        .wrapping_sub(osize);
    read_sized(data, at, osize)
}

/// A transition's target from its stored delta: 0 names the empty final node.
#[inline(always)]
fn target(end: usize, delta: u64) -> usize {
    if delta == 0 {
        EMPTY_ADDRESS
    } else {
        end.wrapping_sub(delta as usize)
    }
}

/// A little-endian unsigned integer of `n` bytes at `at`: 0 for `n == 0`, `None` if the
/// bytes are not there. Sizes above 8 come only from malformed nodes and read 8 bytes.
#[inline(always)]
fn read_sized(data: &[u8], at: usize, n: usize) -> Option<u64> {
    if n == 0 {
        return Some(0);
    }
    read_le(data, at, n.min(8))
}

/// Asks the CPU to start loading the cache lines of the node at `addr`: its state byte,
/// and the transitions just below it.
#[inline(always)]
fn prefetch_node(data: &[u8], addr: usize) {
    prefetch(data, addr);
    prefetch(data, addr.saturating_sub(40));
}

/// Asks the CPU to start loading the cache line that holds `data[i]` (or the last
/// element, when `i` is out of bounds). A hint only: it never faults and changes no result.
#[inline(always)]
pub(crate) fn prefetch<T>(data: &[T], i: usize) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = data
            .as_ptr()
            .wrapping_add(i.min(data.len().saturating_sub(1)));
        // SAFETY: the pointer lies inside `data` (or is its start when it is empty), and a
        // prefetch only hints at a cache line: it reads nothing into the program and
        // cannot fault.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    {
        // Elsewhere lookups still interleave keys, and out-of-order cores overlap some of
        // their misses without the hint.
        let _ = (data, i);
    }
}

/// A little-endian unsigned integer of `n` bytes (0 to 8) at `at`, if the bytes exist.
#[inline(always)]
fn read_le(data: &[u8], at: usize, n: usize) -> Option<u64> {
    const MASKS: [u64; 9] = [
        0,
        0xff,
        0xffff,
        0xff_ffff,
        0xffff_ffff,
        0xff_ffff_ffff,
        0xffff_ffff_ffff,
        0xff_ffff_ffff_ffff,
        u64::MAX,
    ];
    let mask = *MASKS.get(n)?;
    // The common case reads one word; nodes are followed by at least fst's footer.
    if let Some(Ok(word)) = data.get(at..at.wrapping_add(8)).map(<[u8; 8]>::try_from) {
        return Some(u64::from_le_bytes(word) & mask);
    }
    let bytes = data.get(at..at.checked_add(n)?)?;
    Some(
        bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    )
}

/// One decoded node.
#[derive(Clone, Copy, Debug)]
enum Node {
    /// fst's node at address 0: final, output 0, no transitions.
    EmptyFinal,
    /// One transition with its output and target; never final. `low` is its lowest byte.
    One {
        input: u8,
        out: u64,
        next: usize,
        low: usize,
    },
    /// Any number of transitions (including none), possibly final.
    Any(AnyNode),
}

/// The layout of a node with any number of transitions.
#[derive(Clone, Copy, Debug)]
struct AnyNode {
    ntrans: usize,
    /// One past the highest input byte (inputs are stored in reverse order below it).
    inputs_end: usize,
    tsize: usize,
    osize: usize,
    /// One past the highest output (outputs are stored in reverse order below it).
    outputs_end: usize,
    /// The node's lowest byte, from which transition addresses are deltas.
    end: usize,
    final_output: Option<u64>,
    /// Whether a 256-byte transition index lies above the inputs.
    indexed: bool,
}

impl Node {
    /// Decodes the node at `addr`, or `None` if its bytes are not a node.
    #[inline(always)]
    fn decode(data: &[u8], addr: usize, indexed: bool) -> Option<Node> {
        if addr == EMPTY_ADDRESS {
            return Some(Node::EmptyFinal);
        }
        let state = *data.get(addr)?;
        match state >> 6 {
            0b11 | 0b10 => {
                let (input, ilen) = match common_input(state & 0b11_1111) {
                    Some(b) => (b, 0),
                    None => (*data.get(addr.checked_sub(1)?)?, 1),
                };
                let below = addr.checked_sub(ilen)?;
                if state >> 6 == 0b11 {
                    // The target is the node written just before this one.
                    return Some(Node::One {
                        input,
                        out: 0,
                        next: below.checked_sub(1)?,
                        low: below,
                    });
                }
                let sizes_at = below.checked_sub(1)?;
                let sizes = *data.get(sizes_at)?;
                let (tsize, osize) = (usize::from(sizes >> 4), usize::from(sizes & 0x0f));
                let taddr = sizes_at.checked_sub(tsize)?;
                let delta = read_le(data, taddr, tsize)?;
                let end = taddr.checked_sub(osize)?;
                let out = read_le(data, end, osize)?;
                Some(Node::One {
                    input,
                    out,
                    next: delta_addr(end, delta)?,
                    low: end,
                })
            }
            _ => {
                let is_final = state & 0b0100_0000 != 0;
                let (ntrans, nlen) = match state & 0b11_1111 {
                    0 => match *data.get(addr.checked_sub(1)?)? {
                        // One transition is always stored in the state byte, so 1 means 256.
                        1 => (256, 1),
                        n => (usize::from(n), 1),
                    },
                    n => (usize::from(n), 0),
                };
                let sizes_at = addr.checked_sub(nlen + 1)?;
                let sizes = *data.get(sizes_at)?;
                let (tsize, osize) = (usize::from(sizes >> 4), usize::from(sizes & 0x0f));
                let index_len = if indexed && ntrans > TRANS_INDEX_THRESHOLD {
                    256
                } else {
                    0
                };
                let inputs_end = sizes_at.checked_sub(index_len)?;
                let outputs_end = inputs_end.checked_sub(ntrans.checked_mul(tsize + 1)?)?;
                let outputs_start = outputs_end.checked_sub(ntrans.checked_mul(osize)?)?;
                let (end, final_output) = match (is_final, osize) {
                    (false, _) => (outputs_start, None),
                    (true, 0) => (outputs_start, Some(0)),
                    (true, _) => {
                        let at = outputs_start.checked_sub(osize)?;
                        (at, Some(read_le(data, at, osize)?))
                    }
                };
                Some(Node::Any(AnyNode {
                    ntrans,
                    inputs_end,
                    tsize,
                    osize,
                    outputs_end,
                    end,
                    final_output,
                    indexed: index_len != 0,
                }))
            }
        }
    }

    /// The output of the final state, or `None` when the node is not final.
    #[inline(always)]
    fn final_output(&self) -> Option<u64> {
        match self {
            Node::EmptyFinal => Some(0),
            Node::One { .. } => None,
            Node::Any(n) => n.final_output,
        }
    }

    /// Bytes the node at `addr` takes, from its lowest byte to its state byte.
    fn span(&self, addr: usize) -> usize {
        match *self {
            Node::EmptyFinal => 0,
            Node::One { low, .. } => addr - low + 1,
            Node::Any(n) => addr - n.end + 1,
        }
    }

    /// How many transitions leave the node.
    fn len(&self) -> usize {
        match self {
            Node::EmptyFinal => 0,
            Node::One { .. } => 1,
            Node::Any(n) => n.ntrans,
        }
    }

    /// The input byte of transition `i`.
    fn input(&self, data: &[u8], i: usize) -> Option<u8> {
        match *self {
            Node::One { input, .. } if i == 0 => Some(input),
            Node::Any(n) if i < n.ntrans => data.get(n.inputs_end.checked_sub(i + 1)?).copied(),
            _ => None,
        }
    }

    /// The output and target of transition `i`.
    fn transition(&self, data: &[u8], i: usize) -> Option<(u64, usize)> {
        match *self {
            Node::One { out, next, .. } if i == 0 => Some((out, next)),
            Node::Any(n) => n.transition(data, i),
            _ => None,
        }
    }

    /// The first transition whose input is `b` or greater (inputs are in ascending order).
    fn first_input_at_least(&self, data: &[u8], b: u8) -> Option<usize> {
        (0..self.len()).find(|&i| self.input(data, i).is_some_and(|x| x >= b))
    }
}

impl AnyNode {
    #[inline(always)]
    fn transition(&self, data: &[u8], i: usize) -> Option<(u64, usize)> {
        if i >= self.ntrans {
            return None;
        }
        let inputs_start = self.inputs_end - self.ntrans;
        let taddr = inputs_start.checked_sub((i + 1) * self.tsize)?;
        let delta = read_le(data, taddr, self.tsize)?;
        let out = if self.osize == 0 {
            0
        } else {
            read_le(
                data,
                self.outputs_end.checked_sub((i + 1) * self.osize)?,
                self.osize,
            )?
        };
        Some((out, delta_addr(self.end, delta)?))
    }
}

/// A transition's target from its stored delta: 0 names the empty final node.
#[inline(always)]
fn delta_addr(end: usize, delta: u64) -> Option<usize> {
    if delta == 0 {
        return Some(EMPTY_ADDRESS);
    }
    end.checked_sub(usize::try_from(delta).ok()?)
}

/// The byte that fst stores as a "common input" index in a state byte (1-based; 0 means
/// the input byte is stored separately). fst's table, most frequent first; only the first
/// 63 entries fit in a state byte.
#[inline(always)]
fn common_input(idx: u8) -> Option<u8> {
    const COMMON: [u8; 63] = *b"te/oasripcnw.hlm-du012g=:bf3y5&_4v96\
78k%?xCDASFIBEjPTzRNM+LOqHG";
    COMMON.get(usize::from(idx).checked_sub(1)?).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn transducer(items: &BTreeMap<Vec<u8>, u64>) -> Transducer {
        let bytes = fst::Map::from_iter(items.iter().map(|(k, v)| (k.clone(), *v)))
            .expect("sorted keys")
            .into_fst()
            .into_inner();
        let t = Transducer::parse(Bytes::from(bytes)).expect("a valid map");
        let key_len = items.keys().next().map_or(0, Vec::len);
        if items.keys().all(|k| k.len() == key_len) {
            // Whatever fst writes passes verification, and streams as it was built.
            assert_eq!(t.verify(key_len), Ok(items.len() as u64));
            let mut s = t.stream(key_len, u64::MAX);
            let mut streamed = Vec::new();
            while let Some((k, v)) = s.next() {
                streamed.push((k.to_vec(), v));
            }
            assert_eq!(
                streamed,
                items
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect::<Vec<_>>()
            );
        }
        t
    }

    #[test]
    fn common_inputs_are_fst_s() {
        // fst stores these bytes in the state byte; the table must agree with fst's.
        let keys: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b]).collect();
        let map: BTreeMap<_, _> = keys
            .iter()
            .map(|k| (k.clone(), u64::from(k[0]) * 7))
            .collect();
        for (k, v) in &map {
            // One key per map: a root with one transition, which uses the common input.
            let one: BTreeMap<_, _> = [(k.clone(), *v)].into();
            assert_eq!(transducer(&one).get(k), Some(*v), "key {k:?}");
            let two: BTreeMap<_, _> = [(vec![k[0], k[0]], *v)].into();
            assert_eq!(transducer(&two).get(&[k[0], k[0]]), Some(*v), "key {k:?}");
        }
        let all = transducer(&map);
        for (k, v) in &map {
            assert_eq!(all.get(k), Some(*v));
        }
    }

    fn model_first_at_or_after(items: &BTreeMap<Vec<u8>, u64>, key: &[u8]) -> Option<u64> {
        items.range(key.to_vec()..).next().map(|(_, v)| *v)
    }

    fn keys6() -> impl Strategy<Value = BTreeMap<Vec<u8>, u64>> {
        // Few distinct bytes per position, so that keys share prefixes and nodes of every
        // kind appear; some dense nodes get fst's 256-byte index; values of every width.
        let byte = prop_oneof![0u8..4, 250u8..=255, any::<u8>()];
        let value = prop_oneof![Just(0u64), 0u64..300, any::<u64>()];
        prop::collection::btree_map(prop::collection::vec(byte, 6), value, 0..400)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn lookups_agree_with_a_model(
            items in keys6(),
            probes in prop::collection::vec(prop::collection::vec(prop_oneof![0u8..4, 250u8..=255, any::<u8>()], 6), 0..100),
        ) {
            let t = transducer(&items);
            let probes: Vec<Vec<u8>> = probes.into_iter().chain(items.keys().cloned()).collect();
            for p in &probes {
                prop_assert_eq!(t.get(p), items.get(p).copied());
                prop_assert_eq!(t.first_at_or_after(p), model_first_at_or_after(&items, p));
            }
            let mut many = vec![None; probes.len()];
            t.get_many(
                probes.iter().enumerate().map(|(i, p)| (i, <[u8; 6]>::try_from(p.as_slice()).unwrap())),
                |i, v| many[i] = Some(v),
            );
            let model: Vec<Option<u64>> = probes.iter().map(|p| items.get(p).copied()).collect();
            prop_assert_eq!(many, model);
        }

        #[test]
        fn dense_nodes_use_the_input_index(
            fill in prop::collection::btree_set(any::<u8>(), 33..=256),
            probe in any::<u8>(),
        ) {
            let items: BTreeMap<Vec<u8>, u64> =
                fill.iter().map(|&b| (vec![7, b], u64::from(b) + 1)).collect();
            let t = transducer(&items);
            prop_assert_eq!(t.get(&[7, probe]), items.get(&vec![7, probe]).copied());
            prop_assert_eq!(
                t.first_at_or_after(&[7, probe]),
                model_first_at_or_after(&items, &[7, probe])
            );
        }

        #[test]
        fn garbage_never_panics(
            bytes in prop::collection::vec(any::<u8>(), 0..600),
            root in any::<usize>(),
            indexed in any::<bool>(),
            key in prop::collection::vec(any::<u8>(), 6),
        ) {
            // Decoding arbitrary bytes from arbitrary addresses: any answer, never a panic.
            let start = root % (bytes.len() + 1);
            let mut addr = start;
            for &b in &key {
                match step(&bytes, addr, b, indexed) {
                    Some((_, next)) => addr = next,
                    None => break,
                }
            }
            let _ = final_output(&bytes, addr, indexed);
            if let Some(n) = Node::decode(&bytes, start, indexed) {
                let _ = n.final_output();
                let _ = n.first_input_at_least(&bytes, key[0]);
                let _ = n.transition(&bytes, 0);
            }
        }
    }
}
