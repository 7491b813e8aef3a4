//! Query parameters as the servlet container sees them: decoded (`+` is a
//! space), repeatable, in request order.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::response::Response;

use super::errors::rest_error;

pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    #[cfg(test)]
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Whether `expand` (comma-separated, repeatable) names `what`.
    pub fn expands(&self, what: &str) -> bool {
        self.all("expand")
            .flat_map(|value| value.split(','))
            .any(|item| item.trim() == what)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<Vec<(String, String)>>::from_request_parts(parts, state).await {
            Ok(Query(pairs)) => Ok(Params(pairs)),
            Err(rejection) => Err(rest_error(400, &rejection.body_text())),
        }
    }
}
