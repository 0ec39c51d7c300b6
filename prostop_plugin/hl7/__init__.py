"""HL7: v2 (ER7 codec, MLLP framing, ACK, ORU/ADT mapping) and v3 CDA documents."""
