//! In-repo simulators of the servers the hub talks to, for tests, benchmarks
//! and the demo. They share no code with the clients they exercise.

pub mod conductorone;
pub mod confluence;
