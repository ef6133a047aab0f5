"""Checking the notes people keep (issue #17): Markdown, notebooks, text pasted from a
blog, plain .py files. The flow mirrors entries':

    extract (file -> blocks and the claims written beside the code)
    -> run (all of a note's blocks in order, in one sandboxed interpreter)
    -> claims (what ran against what the note says: right, wrong or unchecked)
    -> render (kb.render.notes) / fix (rewrite only the wrong claims) / drafts (kb import)
"""

from kb.notes.extract import NOTE_SUFFIXES, is_note_path

__all__ = ["NOTE_SUFFIXES", "is_note_path"]
