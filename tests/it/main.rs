//! Integration tests: listeners composed through the public API.

mod config;
mod ordering;
mod capture;
mod tcp;
mod http;
