"""Published event contracts, one module per producer. Data only; fields are only ever added.

Consumers are tolerant readers (unknown fields are ignored), so a producer may add a field
without breaking anyone, and must never rename or remove one.
"""
