//! A tiny HTML writer: markup comes only from `&'static str` literals in
//! our code, and every value goes through [`Html::text`], which escapes it.
//! No template crate, and no way to interpolate a value unescaped.

use std::fmt::Write;

#[derive(Default)]
pub struct Html(String);

impl Html {
    pub fn with_capacity(bytes: usize) -> Self {
        Self(String::with_capacity(bytes))
    }

    /// Markup written by us; never a value.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// A value, escaped for element content and quoted attributes alike.
    pub fn text(&mut self, value: &str) -> &mut Self {
        for c in value.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&#39;"),
                c => self.0.push(c),
            }
        }
        self
    }

    /// A number needs no escaping.
    pub fn number(&mut self, value: impl Into<u64>) -> &mut Self {
        let _ = write!(self.0, "{}", value.into());
        self
    }

    /// `<tag>value</tag>` for a static tag name.
    pub fn element(&mut self, open: &'static str, value: &str, close: &'static str) -> &mut Self {
        self.raw(open).text(value).raw(close)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}
