//! Integration tests of `hookline serve`: the real server on 127.0.0.1:0, a real receiver whose
//! behaviour is switched per request, and (in `process`) the real binary killed mid-load.

mod harness;
mod receiver;

mod api;
mod bridge;
mod dashboard;
mod delivery;
mod disable;
mod faults;
mod guard;
mod isolation;
mod keys;
mod limits;
mod ordering;
mod pacing;
mod process;
mod retention;
mod secrets;
mod signatures;
mod templates;
