//! The command-line words of a bench (`cargo bench --bench NAME -- FLAGS`):
//! flags, and the number or text that follows one. Unknown words (cargo
//! passes `--bench`) are the caller's to ignore.

pub struct Flags {
    words: std::iter::Skip<std::env::Args>,
}

impl Flags {
    pub fn from_env() -> Self {
        Self {
            words: std::env::args().skip(1),
        }
    }

    pub fn next_flag(&mut self) -> Option<String> {
        self.words.next()
    }

    /// The number after a flag, or `default` when it is missing or not one.
    pub fn number(&mut self, default: usize) -> usize {
        self.words
            .next()
            .and_then(|text| text.parse().ok())
            .unwrap_or(default)
    }

    pub fn text(&mut self) -> Option<String> {
        self.words.next()
    }
}
