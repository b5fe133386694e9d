//! Shared helpers for passerelle's end-to-end tests.
