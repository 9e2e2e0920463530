"""Operations: health monitoring and the scheduled jobs."""
