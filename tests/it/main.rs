//! Integration tests: listeners composed through the public API.

mod config;
mod ordering;
mod capture;
mod http;
mod tcp;
mod adversarial;
mod faults;
mod examples;
