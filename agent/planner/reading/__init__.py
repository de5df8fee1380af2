"""The offline reader of plain-English messages: what a message asks for, and the values it states.

:func:`agent.planner.reading.message.read_message` reads one message into an
:class:`~agent.planner.reading.intent.Intent`. Every value is read through one
:class:`~agent.planner.reading.scan.Scan`; each of the other modules reads one kind of value
(budget, dataset, deploy, fields, metric, rejected, runs), and :mod:`.action` reads the words that
choose the action.
"""
