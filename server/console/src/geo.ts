// A patrol's route as the app writes it: a GeoJSON LineString in WGS-84,
// `{"type":"LineString","coordinates":[[lon, lat], …]}`. Text from a
// device: anything else (or a point out of range) is left out, never run.

/** [longitude, latitude] pairs, in WGS-84 degrees. */
export type LonLat = [number, number]

const isPoint = (p: unknown): p is [number, number] =>
  Array.isArray(p) && p.length >= 2 &&
  typeof p[0] === 'number' && typeof p[1] === 'number' &&
  Math.abs(p[0]) <= 180 && Math.abs(p[1]) <= 90

/** The route's points; none when the text is not a LineString. */
export function parseRoute(text: unknown): LonLat[] {
  if (typeof text !== 'string' || !text) return []
  try {
    const g = JSON.parse(text) as { type?: unknown; coordinates?: unknown }
    if (g.type !== 'LineString' || !Array.isArray(g.coordinates)) return []
    return g.coordinates.filter(isPoint).map((p) => [p[0], p[1]] as LonLat)
  } catch {
    return []
  }
}
