"""SNMP: notifications to the NOC's receivers and the read-only agent (pysnmp)."""
