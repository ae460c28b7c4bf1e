"""Monitoring and alarms: metrics, alarm evaluation, e-mail, SNMP traps and agent."""
