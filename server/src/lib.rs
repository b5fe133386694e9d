//! The passerelle sync server.
