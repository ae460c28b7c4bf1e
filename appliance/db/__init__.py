"""Persistence: Pony entities, hand-written SQL for searches, schema migrations.

No Pony generator or lambda query is used anywhere: Pony decompiles their bytecode and a
Nuitka-compiled module has none. Entities are used for single-row work (get by key,
create, update) and every filtered query is plain SQL built here.
"""
