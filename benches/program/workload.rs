//! What W7's child does, and the document it reads: a JSON file of records
//! written once by the parent, parsed and walked, indexed, dropped; then two
//! threads that trade heap blocks.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A small, fast, deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// In `0..n`, log-uniform: rank `k` about as likely as 1/k (Zipf's law, s = 1).
    pub fn zipf(&mut self, n: u64) -> u64 {
        ((n as f64).powf(self.unit()) as u64).clamp(1, n) - 1
    }
}

/// How many made-up words the document's text is drawn from.
const VOCABULARY: usize = 4000;

/// The vocabulary: pronounceable made-up words of 2 to 6 syllables, distinct.
fn vocabulary(rng: &mut Rng) -> Vec<String> {
    const ONSETS: [&str; 16] = [
        "b", "k", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "tr",
    ];
    const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ai"];
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::with_capacity(VOCABULARY);
    while words.len() < VOCABULARY {
        let mut word = String::new();
        for _ in 0..2 + rng.below(5) {
            word.push_str(ONSETS[rng.below(16) as usize]);
            word.push_str(VOWELS[rng.below(6) as usize]);
        }
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

/// Writes the document: a JSON array of records of about `bytes` bytes in
/// all, the same for the same `bytes`.
///
/// A record has short string fields (a name, tags), a text of a few to a few
/// hundred words (a quarter of them over 512 bytes), numbers, a nested
/// object and an array of child objects; words follow Zipf's law.
pub fn document(bytes: usize) -> String {
    let mut rng = Rng::new(0x5EED_0007);
    let words = vocabulary(&mut rng);
    let mut out = String::with_capacity(bytes + 64 * 1024);
    let sentence = |rng: &mut Rng, n: u64, out: &mut String| {
        for i in 0..n {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&words[rng.zipf(VOCABULARY as u64) as usize]);
        }
    };
    out.push('[');
    let mut id = 0u64;
    while out.len() < bytes {
        if id > 0 {
            out.push(',');
        }
        write!(out, "\n{{\"id\":{id},\"name\":\"").unwrap();
        let n = 1 + rng.below(3);
        sentence(&mut rng, n, &mut out);
        write!(
            out,
            "\",\"score\":{:.3},\"active\":{},\"tags\":[",
            rng.unit() * 100.0,
            rng.below(2) == 1
        )
        .unwrap();
        for t in 0..rng.below(8) {
            out.push_str(if t > 0 { ",\"" } else { "\"" });
            sentence(&mut rng, 1, &mut out);
            out.push('"');
        }
        // Text lengths from a few words to several hundred: log-uniform, so
        // most are short and some buffers are well over 512 bytes.
        out.push_str("],\"text\":\"");
        let n = 3 + rng.zipf(600);
        sentence(&mut rng, n, &mut out);
        write!(
            out,
            "\",\"meta\":{{\"created\":{},\"ratio\":{:.4},\"flags\":[{},{},{}],\"owner\":{{\"login\":\"",
            1_600_000_000 + rng.below(100_000_000),
            rng.unit(),
            rng.below(10),
            rng.below(100),
            rng.below(1000)
        )
        .unwrap();
        sentence(&mut rng, 1, &mut out);
        write!(
            out,
            "\",\"karma\":{}}}}},\"children\":[",
            rng.below(1 << 20)
        )
        .unwrap();
        for c in 0..rng.zipf(40) {
            if c > 0 {
                out.push(',');
            }
            write!(out, "{{\"kind\":\"").unwrap();
            sentence(&mut rng, 1, &mut out);
            write!(out, "\",\"value\":{},\"weights\":[", rng.below(1000)).unwrap();
            for w in 0..rng.below(6) {
                if w > 0 {
                    out.push(',');
                }
                write!(out, "{:.2}", rng.unit()).unwrap();
            }
            out.push_str("],\"note\":\"");
            let n = 1 + rng.zipf(60);
            sentence(&mut rng, n, &mut out);
            out.push_str("\"}");
        }
        out.push_str("]}");
        id += 1;
    }
    out.push_str("\n]\n");
    out
}

/// What the phases computed: equal for every allocator, or one of them
/// corrupted memory.
#[derive(Debug, Default, PartialEq)]
pub struct Checks {
    pub nodes: u64,
    pub string_bytes: u64,
    /// The sum of all numbers, as f64 bits (summed in document order).
    pub number_sum_bits: u64,
    pub distinct_words: u64,
    pub postings: u64,
    pub exchanged_bytes: u64,
}

impl Checks {
    /// As printed by the child and parsed by the parent: `key=value` pairs.
    pub fn fields(&self) -> [(&'static str, u64); 6] {
        [
            ("nodes", self.nodes),
            ("string_bytes", self.string_bytes),
            ("number_sum_bits", self.number_sum_bits),
            ("distinct_words", self.distinct_words),
            ("postings", self.postings),
            ("exchanged_bytes", self.exchanged_bytes),
        ]
    }
}

/// Phase 1, "parse+walk": reads the file at `path`, parses it and walks the value.
// Never inlined: a profile (e.g. callgrind's `--dump-before`) can split at each phase.
#[inline(never)]
pub fn parse_walk(path: &Path, checks: &mut Checks) -> (Value, Duration) {
    let start = Instant::now();
    let text = std::fs::read_to_string(path).expect("the parent wrote the document");
    let value: Value = serde_json::from_str(&text).expect("the document is valid JSON");
    drop(text);
    let mut sum = 0.0;
    walk(&value, checks, &mut sum);
    checks.number_sum_bits = f64::to_bits(sum);
    (value, start.elapsed())
}

fn walk(value: &Value, checks: &mut Checks, sum: &mut f64) {
    checks.nodes += 1;
    match value {
        Value::Null | Value::Bool(_) => {}
        Value::Number(n) => *sum += n.as_f64().expect("a finite number"),
        Value::String(s) => checks.string_bytes += s.len() as u64,
        Value::Array(items) => items.iter().for_each(|v| walk(v, checks, sum)),
        Value::Object(map) => {
            for (key, v) in map {
                checks.string_bytes += key.len() as u64;
                walk(v, checks, sum);
            }
        }
    }
}

/// Phase 2, "index": a word index of the records' text (word -> record ids),
/// then a count per word; drops both and then the document.
// Never inlined: a profile (e.g. callgrind's `--dump-before`) can split at each phase.
#[inline(never)]
pub fn index(document: Value, checks: &mut Checks) -> Duration {
    let start = Instant::now();
    let mut index: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let records = document.as_array().expect("the document is an array");
    for record in records {
        let id = record["id"].as_u64().expect("an id") as u32;
        let mut add = |text: &str| {
            for word in text.split_whitespace() {
                // A tokenizer's own string per token, as most have.
                let word = word.to_uppercase();
                match index.get_mut(&word) {
                    Some(ids) => {
                        if ids.last() != Some(&id) {
                            ids.push(id);
                        }
                    }
                    None => {
                        index.insert(word, vec![id]);
                    }
                }
            }
        };
        add(record["name"].as_str().expect("a name"));
        add(record["text"].as_str().expect("a text"));
        add(record["meta"]["owner"]["login"].as_str().expect("a login"));
        for tag in record["tags"].as_array().expect("tags") {
            add(tag.as_str().expect("a tag"));
        }
        for child in record["children"].as_array().expect("children") {
            add(child["kind"].as_str().expect("a kind"));
            add(child["note"].as_str().expect("a note"));
        }
    }
    let counts: HashMap<String, usize> = index
        .iter()
        .map(|(word, ids)| (word.clone(), ids.len()))
        .collect();
    checks.distinct_words = counts.len() as u64;
    checks.postings = counts.values().map(|&n| n as u64).sum();
    drop(black_box(index));
    drop(black_box(counts));
    drop(document);
    start.elapsed()
}

/// A message of phase 3: a heap block of some size, in one of the shapes a
/// program sends.
enum Message {
    Bytes(Vec<u8>),
    Text(String),
    Words(Box<[u64]>),
}

impl Message {
    /// A message of `size` bytes (a multiple of 8 for `Words`), its content
    /// written so that the memory is touched.
    fn new(size: usize, kind: u64) -> Message {
        let tag = size as u8;
        match kind {
            0 => Message::Bytes(vec![tag; size]),
            1 => Message::Text(char::from(b'a' + tag % 26).to_string().repeat(size)),
            _ => Message::Words(vec![u64::from(tag); size.div_ceil(8)].into_boxed_slice()),
        }
    }

    /// Checks the content and returns its size in bytes.
    fn consume(self) -> u64 {
        let (len, ok) = match &self {
            Message::Bytes(v) => (v.len(), v.last() == Some(&(v.len() as u8))),
            Message::Text(s) => (
                s.len(),
                s.as_bytes()[s.len() - 1] == b'a' + (s.len() as u8) % 26,
            ),
            Message::Words(w) => (w.len() * 8, true),
        };
        assert!(ok, "a message arrived corrupted");
        len as u64
    }
}

/// A size from 16 B to 8 KiB, mostly small: 70% up to 128 B, 20% up to
/// 512 B, 8% up to 2 KiB, 2% up to 8 KiB.
fn message_size(rng: &mut Rng) -> usize {
    let r = rng.below(100);
    let (lo, hi) = match r {
        0..70 => (16, 128),
        70..90 => (129, 512),
        90..98 => (513, 2048),
        _ => (2049, 8192),
    };
    (lo + rng.below(hi - lo + 1)) as usize
}

/// How many messages each side may have in flight.
const IN_FLIGHT: usize = 1024;

/// One side of the exchange: sends `messages` messages to the other side and
/// frees those that arrive; returns the bytes sent and the bytes received.
fn side(seed: u64, messages: u64, to: SyncSender<Message>, from: Receiver<Message>) -> (u64, u64) {
    let mut rng = Rng::new(seed);
    let (mut sent, mut received) = (0, 0);
    for _ in 0..messages {
        let size = message_size(&mut rng);
        let mut message = Message::new(size, rng.below(3));
        sent += if let Message::Words(w) = &message {
            w.len() as u64 * 8
        } else {
            size as u64
        };
        loop {
            match to.try_send(message) {
                Ok(()) => break,
                // The other side is behind: wait for what it sends, rather
                // than spin, so a side that the machine's other load has
                // descheduled gets a core. No deadlock: if both are full, each
                // finds the other's messages waiting; a side that is done
                // sending disconnects (recv fails at once) and drains ours.
                Err(TrySendError::Full(back)) => {
                    message = back;
                    match from.recv() {
                        Ok(message) => received += message.consume(),
                        Err(_) => std::thread::yield_now(),
                    }
                }
                Err(TrySendError::Disconnected(_)) => unreachable!("the other side waits for all"),
            }
        }
        while let Ok(message) = from.try_recv() {
            received += message.consume();
        }
    }
    drop(to);
    received += from.into_iter().map(Message::consume).sum::<u64>();
    (sent, received)
}

/// Phase 3, "exchange": two threads each send `messages` heap blocks of
/// varied size to the other, which frees them.
// Never inlined: a profile (e.g. callgrind's `--dump-before`) can split at each phase.
#[inline(never)]
pub fn exchange(messages: u64, checks: &mut Checks) -> Duration {
    let start = Instant::now();
    let (to_b, from_a) = sync_channel(IN_FLIGHT);
    let (to_a, from_b) = sync_channel(IN_FLIGHT);
    let b = std::thread::spawn(move || side(2, messages, to_a, from_a));
    let (sent_a, received_a) = side(1, messages, to_b, from_b);
    let (sent_b, received_b) = b.join().expect("side b finished");
    assert_eq!(
        (sent_a, sent_b),
        (received_b, received_a),
        "every byte sent arrived"
    );
    checks.exchanged_bytes = sent_a + sent_b;
    start.elapsed()
}
