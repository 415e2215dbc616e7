//! hookline's browser half (being built).
