export function TeamLeadPage() {
  return <p>Team</p>
}
