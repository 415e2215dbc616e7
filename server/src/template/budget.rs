//! The render budget: how much one render may do. Templates are user input that the server renders
//! for every delivery, so the work is counted while the template runs (loop iterations, bytes
//! written, bytes held in values) and the render stops, with an error naming the limit, as soon
//! as one is passed: a template that would loop 10^12 times stops after the limit.
//!
//! The renderer ([`super::render`]) counts as it goes: every loop iteration (`for` and `tablerow`),
//! every filter's result (and `replace`, `join`, `append`, which can multiply their input, check
//! the size of their result before building it), what variables hold (`assign`, `capture`), and
//! what reaches the output or a `capture`'s buffer.

use super::Data;

/// The limits of one render of a webhook (its URL, headers and body together); the `[templates]`
/// section of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Iterations of all `{% for %}` loops together.
    pub max_loop_iterations: u64,
    /// Bytes of rendered text (URL, headers and body together).
    pub max_output_bytes: usize,
    /// Bytes that a template's variables may hold at once (`assign`, `capture`, counters), which
    /// is also the most one filter may return (but for the filters that escape a value for the
    /// output, held to `max_output_bytes`).
    pub max_value_bytes: usize,
}

impl Limits {
    /// The most bytes the filters of one render may read and write together.
    pub fn max_filter_work(&self) -> u64 {
        2u64.saturating_mul(self.max_loop_iterations)
            .saturating_mul(self.max_value_bytes as u64)
    }
}

impl Default for Limits {
    /// A loop over an event's array of a few hundred items, even nested once, fits; so does a body
    /// a hundred times larger than a usual one of a few kB.
    fn default() -> Limits {
        Limits {
            max_loop_iterations: 10_000,
            max_output_bytes: 256 * 1024,
            max_value_bytes: 256 * 1024,
        }
    }
}

/// Which limit a render passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// `max_loop_iterations`.
    LoopIterations,
    /// `max_output_bytes`.
    OutputBytes,
    /// `max_value_bytes`.
    ValueBytes,
    /// The work of the filters: the bytes they read and wrote, at most twice
    /// `max_loop_iterations` × `max_value_bytes` (each iteration reading and writing the largest
    /// value once).
    FilterWork,
}

impl Exceeded {
    /// The error a render over this limit fails with.
    pub fn message(self, limits: &Limits) -> String {
        match self {
            Exceeded::LoopIterations => format!(
                "the template ran more than {} loop iterations (the render budget)",
                limits.max_loop_iterations
            ),
            Exceeded::OutputBytes => format!(
                "the template produced more than {} bytes (the render budget)",
                limits.max_output_bytes
            ),
            Exceeded::ValueBytes => format!(
                "the template's variables and filter results took more than {} bytes (the render budget)",
                limits.max_value_bytes
            ),
            Exceeded::FilterWork => format!(
                "the template's filters read and wrote more than {} bytes (the render budget: 2 × max_loop_iterations × max_value_bytes)",
                limits.max_filter_work()
            ),
        }
    }
}

/// What one render has used of its [`Limits`]. The templates of one webhook render share one, so
/// that a webhook's fields together stay within the limits.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    limits: Limits,
    iterations: u64,
    /// Bytes the filters read and wrote.
    work: u64,
    output: usize,
    /// Held by the variables of the template being rendered (each template has its own).
    values: usize,
    exceeded: Option<Exceeded>,
}

impl Budget {
    pub fn new(limits: Limits) -> Budget {
        Budget {
            limits,
            ..Budget::default()
        }
    }

    /// The limit this render passed, if it did.
    pub fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded
    }

    /// The error a render over the budget fails with, naming the limit.
    pub fn message(&self) -> Option<String> {
        Some(self.exceeded?.message(&self.limits))
    }

    pub(super) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Records that `limit` was passed (the first one passed stays the one named); returns the
    /// error the render stops with.
    pub(super) fn fail(&mut self, limit: Exceeded) -> String {
        self.exceeded.get_or_insert(limit);
        self.message().unwrap_or_default()
    }

    /// Bytes the render may still write.
    pub(super) fn output_room(&self) -> usize {
        self.limits.max_output_bytes.saturating_sub(self.output)
    }

    /// The most bytes one value (a filter's result, a capture) may hold.
    pub(super) fn max_value_bytes(&self) -> usize {
        self.limits.max_value_bytes
    }

    /// Counts `n` bytes written (the renderer checked them against [`Budget::output_room`]).
    pub(super) fn wrote(&mut self, n: usize) {
        self.output += n;
    }

    /// Prepares the budget for one template: its variables start empty.
    pub(super) fn for_template(&self) -> Budget {
        Budget {
            values: 0,
            ..self.clone()
        }
    }

    pub(super) fn loop_iteration(&mut self) -> Result<(), String> {
        self.iterations += 1;
        if self.iterations > self.limits.max_loop_iterations {
            return Err(self.fail(Exceeded::LoopIterations));
        }
        Ok(())
    }

    /// A filter that read `read` bytes and wrote a result of `wrote`: the result no larger than a
    /// variable may hold or, for `json` (text for the output), than the output may be; the work
    /// within the render's.
    pub(super) fn filtered(
        &mut self,
        read: usize,
        wrote: usize,
        for_output: bool,
    ) -> Result<(), String> {
        let (max, limit) = if for_output {
            (self.limits.max_output_bytes, Exceeded::OutputBytes)
        } else {
            (self.limits.max_value_bytes, Exceeded::ValueBytes)
        };
        if wrote > max {
            return Err(self.fail(limit));
        }
        self.work = self.work.saturating_add((read + wrote) as u64);
        if self.work > self.limits.max_filter_work() {
            return Err(self.fail(Exceeded::FilterWork));
        }
        Ok(())
    }

    /// A variable set: it now holds `added` bytes instead of `released`.
    pub(super) fn hold(&mut self, added: usize, released: usize) -> Result<(), String> {
        self.values = self.values.saturating_sub(released) + added;
        if self.values > self.limits.max_value_bytes {
            return Err(self.fail(Exceeded::ValueBytes));
        }
        Ok(())
    }
}

/// The bytes a value holds as the budget counts them: a string's length, 8 for a number or a
/// boolean, and for an array or an object the sum of its items (and keys) plus one per item.
pub(super) fn value_size(value: &Data) -> usize {
    match value {
        Data::Nil => 0,
        Data::Bool(_) | Data::Int(_) | Data::Float(_) => 8,
        Data::Str(s) => s.len(),
        Data::Array(items) => items.iter().map(|item| value_size(item) + 1).sum(),
        Data::Object(entries) => entries
            .iter()
            .map(|(key, item)| key.len() + value_size(item) + 1)
            .sum(),
    }
}
