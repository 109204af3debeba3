"""What routes depend on, from `app.state`: tests swap them with `app.dependency_overrides`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rag.library import Library
from rag.service.generation import Generation
from rag.service.jobs import Jobs


def get_library(request: Request) -> Library:
    return request.app.state.library


def get_generation(request: Request) -> Generation:
    return request.app.state.generation


def get_jobs(request: Request) -> Jobs:
    return request.app.state.jobs


LibraryDep = Annotated[Library, Depends(get_library)]
GenerationDep = Annotated[Generation, Depends(get_generation)]
JobsDep = Annotated[Jobs, Depends(get_jobs)]
