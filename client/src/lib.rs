//! The passerelle client.
