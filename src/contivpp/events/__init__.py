"""Typed events, the async event bus, the event log and the fold of events into state."""
