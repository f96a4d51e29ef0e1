from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication


class WhoAmI(APIView):
    """The caller as the service sees it: authd's user id, and the roles authd put in the token."""

    authentication_classes = [JWTStatelessUserAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"sub": request.user.id, "roles": request.auth.get("roles", [])})
