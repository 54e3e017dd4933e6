"""Ticket extraction: normalisation, field extractors, department routing, forms and knowledge base."""
